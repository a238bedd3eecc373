// Turns every failure (ours, Fastify's validation, malformed bodies, unknown routes) into the
// one error shape, so clients parse a single format whatever went wrong.
import type { FastifyError, FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { ApiError } from "../errors.ts";

interface ValidationIssue {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
}

function paramOf(issue: ValidationIssue): string | null {
  const path = issue.instancePath.replace(/^\//, "").replaceAll("/", ".");
  const missing = issue.keyword === "required" ? String(issue.params.missingProperty ?? "") : "";
  const extra = issue.keyword === "additionalProperties" ? String(issue.params.additionalProperty ?? "") : "";
  const leaf = missing || extra;
  const full = [path, leaf].filter(Boolean).join(".");
  return full || null;
}

function describe(issue: ValidationIssue, context: string | undefined): string {
  const param = paramOf(issue);
  const where = `${context ?? "request"}${param ? ` field '${param}'` : ""}`;
  if (issue.keyword === "additionalProperties") return `Unknown ${where}: it is not accepted here`;
  if (issue.keyword === "required") return `Missing required ${where}`;
  if (issue.keyword === "enum") {
    const allowed = (issue.params.allowedValues as unknown[] | undefined)
      ?.map((v) => JSON.stringify(v))
      .join(", ");
    return `Invalid ${where}: must be one of ${allowed}`;
  }
  return `Invalid ${where}: ${issue.message ?? "invalid value"}`;
}

function toApiError(error: FastifyError): ApiError {
  if (error instanceof ApiError) return error;
  const issues = error.validation as ValidationIssue[] | undefined;
  if (issues && issues.length > 0) {
    const first = issues[0]!;
    return ApiError.badRequest("parameter_invalid", describe(first, error.validationContext), paramOf(first));
  }
  switch (error.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return ApiError.badRequest("invalid_json", `The request body is not valid JSON: ${error.message}`);
    case "FST_ERR_CTP_BODY_TOO_LARGE":
    case "FST_REQ_FILE_TOO_LARGE":
      return new ApiError(413, "invalid_request_error", "body_too_large", error.message);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new ApiError(415, "invalid_request_error", "unsupported_media_type", error.message);
    case "FST_ERR_RATE_LIMIT":
      return new ApiError(429, "rate_limit_error", "rate_limited", error.message);
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return new ApiError(
      status,
      "invalid_request_error",
      (error.code ?? "bad_request").toLowerCase(),
      error.message,
    );
  }
  return new ApiError(500, "api_error", "internal_error", "An internal error occurred; it has been logged");
}

export default fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const apiError = toApiError(error);
      if (apiError.statusCode >= 500) request.log.error({ err: error }, "request failed");
      else request.log.info({ code: apiError.code, status: apiError.statusCode }, apiError.message);
      return reply.status(apiError.statusCode).send(apiError.toBody());
    });
    app.setNotFoundHandler((request, reply) => {
      const error = new ApiError(
        404,
        "not_found_error",
        "route_not_found",
        `No route ${request.method} ${request.url.split("?")[0]}; see /docs for the API reference`,
      );
      return reply.status(404).send(error.toBody());
    });
  },
  { name: "errors" },
);
