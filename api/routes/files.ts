import multipart from "@fastify/multipart";
import { type FastifyPluginAsyncTypebox, TypeBoxValidatorCompiler } from "@fastify/type-provider-typebox";
import type { TSchema } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { FastifyRouteSchemaDef, FastifyValidationResult } from "fastify/types/schema.js";
import { ApiError } from "../errors.ts";
import { answer, errorResponses, readAccess, writeAccess } from "../schemas/common.ts";
import {
  DeletedFile,
  FILE_PURPOSES,
  File,
  FileList,
  FileListQuery,
  FileParams,
  type FilePurpose,
  FileRejected,
  UploadForm,
} from "../schemas/files.ts";
import type { StagedBlob } from "../services/blobs.ts";
import { DomainError } from "../services/domain-errors.ts";
import type { Files, Upload } from "../services/files.ts";

const FORM_HELP =
  "POST /v1/files takes multipart/form-data with the fields purpose (model or dataset) and file";
const MULTIPART_LIMIT_CODES = new Set(["FST_FILES_LIMIT", "FST_FIELDS_LIMIT", "FST_PARTS_LIMIT"]);

function formError(message: string, param: string | null): ApiError {
  return ApiError.badRequest("parameter_invalid", `${message}; ${FORM_HELP}`, param);
}

function parsePurpose(value: unknown): FilePurpose {
  const purpose = FILE_PURPOSES.find((p) => p === value);
  if (!purpose) {
    throw formError(
      `Invalid form field 'purpose': must be one of "model", "dataset", got ${JSON.stringify(value)}`,
      "purpose",
    );
  }
  return purpose;
}

/** Keeps the last path segment, without control characters, at most 255 characters. */
function cleanFilename(name: string | undefined): string {
  const lastSegment = (name ?? "").split(/[\\/]/).pop()!;
  const printable = [...lastSegment].filter((c) => c >= " " && c !== "\u007f").join("");
  const base = printable.trim();
  return base.slice(0, 255) || "upload";
}

/** The multipart parser's own failures, which are the client's: limits and broken framing. */
function asFormError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof ApiError || error instanceof DomainError) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && MULTIPART_LIMIT_CODES.has(code)) {
    return formError("An upload carries exactly one file and one purpose", null);
  }
  // The parser (busboy) raises plain errors, each naming multipart: a missing boundary, a cut body.
  if (code === undefined && /multipart/i.test(error.message)) {
    return ApiError.badRequest(
      "malformed_multipart",
      `The multipart body could not be read: ${error.message}; ${FORM_HELP}`,
    );
  }
  return error;
}

/**
 * Reads the form part by part: `purpose` may come before or after `file`. The file streams into
 * the blob store's staging area with the purpose's size limit when the purpose came first, with
 * the largest limit otherwise (the service then checks the purpose's own).
 */
async function readUploadForm(request: FastifyRequest, files: Files): Promise<Upload> {
  const { organizationId } = request.auth;
  if (!request.isMultipart()) {
    throw new ApiError(415, "invalid_request_error", "unsupported_media_type", FORM_HELP);
  }
  let purpose: FilePurpose | undefined;
  let staged: StagedBlob | undefined;
  let filename = "";
  try {
    const limits = { files: 1, fields: 8, fieldSize: 1024, fileSize: files.limitFor(undefined) + 1 };
    for await (const part of request.parts({ limits })) {
      if (part.type === "field") {
        if (part.fieldname === "file") {
          throw formError(
            "The form field 'file' must be a file part with a filename (curl: -F file=@model.onnx)",
            "file",
          );
        }
        if (part.fieldname !== "purpose")
          throw formError(`Unknown form field '${part.fieldname}'`, part.fieldname);
        if (purpose !== undefined) throw formError("The form field 'purpose' appears twice", "purpose");
        purpose = parsePurpose(part.value);
      } else {
        if (part.fieldname !== "file")
          throw formError(`Unknown file field '${part.fieldname}'`, part.fieldname);
        filename = cleanFilename(part.filename);
        staged = await files.stage(organizationId, part.file, purpose);
      }
    }
    if (purpose === undefined) throw formError("Missing required form field 'purpose'", "purpose");
    if (staged === undefined) throw formError("Missing required form field 'file'", "file");
    return { purpose, filename, staged };
  } catch (error) {
    await staged?.discard();
    throw asFormError(error);
  }
}

/** RFC 6266: an ASCII fallback name plus the exact UTF-8 name (RFC 8187). */
function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, "_");
  // encodeURIComponent leaves ' ( ) * as they are; RFC 8187 wants them percent-encoded too.
  const exact = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${exact}`;
}

/** RFC 9110 If-None-Match: `*`, or a list of tags compared weakly (a W/ prefix is ignored). */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === etag;
  });
}

/** The form is checked part by part as it streams (readUploadForm): the body schema only documents it. */
function streamedFormValidator<S>(route: FastifyRouteSchemaDef<S>): FastifyValidationResult {
  if (route.httpPart === "body") return () => true;
  return TypeBoxValidatorCompiler(route as unknown as FastifyRouteSchemaDef<TSchema>);
}

function sendContent(reply: FastifyReply, headers: Record<string, string>, body?: unknown) {
  return reply.headers(headers).send(body);
}

const filesRoutes: FastifyPluginAsyncTypebox<{ files: Files }> = async (app, { files }) => {
  await app.register(multipart);
  app.addHook("onRequest", app.authenticate);

  app.post(
    "/v1/files",
    {
      schema: {
        operationId: "uploadFile",
        tags: ["files"],
        summary: "Upload an ONNX model or a dataset",
        description:
          "The content is stored by SHA-256 as it streams in, then inspected: a model is parsed and checked " +
          "against the training engine's supported operators, a dataset (safetensors, .npy, .npz, CSV) is " +
          "parsed. Nothing is kept when inspection fails. Limits: MAX_MODEL_UPLOAD_BYTES (200 MB) and " +
          "MAX_DATASET_UPLOAD_BYTES (2 GB) per file, and the organization's storage quota (STORAGE_QUOTA_BYTES, " +
          "20 GB of live files by default; 413 storage_quota_exceeded with the quota and the usage). With an Idempotency-Key, a retry replays the first upload's " +
          "response: the key names the upload, the content is not read again.",
        security: writeAccess,
        consumes: ["multipart/form-data"],
        body: UploadForm,
        response: {
          201: answer("The stored and inspected file", File),
          422: FileRejected,
          ...errorResponses(400, 401, 403, 413, 415),
        },
      },
      config: { idempotency: true },
      validatorCompiler: streamedFormValidator,
    },
    async (request, reply) => {
      let upload: Upload;
      try {
        upload = await readUploadForm(request, files);
      } catch (error) {
        // The rest of the body may be unread: end the connection rather than drain it.
        reply.header("connection", "close");
        throw error;
      }
      return reply.status(201).send(await files.create(request.auth.organizationId, upload));
    },
  );

  app.get(
    "/v1/files",
    {
      schema: {
        operationId: "listFiles",
        tags: ["files"],
        summary: "List the organization's files, newest first",
        security: readAccess,
        querystring: FileListQuery,
        response: { 200: answer("A page of files", FileList), ...errorResponses(400, 401) },
      },
    },
    async (request) => files.list(request.auth.organizationId, request.query),
  );

  app.get(
    "/v1/files/:id",
    {
      schema: {
        operationId: "getFile",
        tags: ["files"],
        summary: "A file and what inspection found in it",
        security: readAccess,
        params: FileParams,
        response: { 200: answer("The file", File), ...errorResponses(401, 404) },
      },
    },
    async (request) => files.get(request.auth.organizationId, request.params.id),
  );

  app.route({
    method: ["GET", "HEAD"],
    url: "/v1/files/:id/content",
    schema: {
      operationId: "downloadFileContent",
      tags: ["files"],
      summary: "Download a file's content (HEAD: its headers only)",
      description: "The ETag is the quoted SHA-256 of the content; If-None-Match with it answers 304.",
      security: readAccess,
      params: FileParams,
      response: {
        200: {
          description: "The bytes as uploaded",
          content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
        },
        304: { description: "The content has not changed", type: "null" },
        ...errorResponses(401, 404),
      },
    },
    handler: async (request, reply) => {
      const { file, contentType, open } = await files.content(request.auth.organizationId, request.params.id);
      const etag = `"${file.sha256}"`;
      const headers = { etag, "cache-control": "private, max-age=31536000, immutable" };
      if (matchesEtag(request.headers["if-none-match"], etag)) return sendContent(reply.status(304), headers);
      const full = {
        ...headers,
        "content-type": contentType,
        // Uploaded bytes are never to be interpreted by a browser as anything but a download.
        "x-content-type-options": "nosniff",
        "content-length": String(file.bytes),
        "content-disposition": contentDisposition(file.filename),
      };
      if (request.method === "HEAD") return sendContent(reply, full);
      return sendContent(reply, full, await open());
    },
  });

  app.delete(
    "/v1/files/:id",
    {
      schema: {
        operationId: "deleteFile",
        tags: ["files"],
        summary: "Delete a file: it leaves the API, while jobs that use it keep their copy",
        security: writeAccess,
        params: FileParams,
        response: { 200: answer("The file is deleted", DeletedFile), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => files.remove(request.auth.organizationId, request.params.id),
  );
};

export default filesRoutes;
