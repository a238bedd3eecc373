// A multipart/form-data upload body built as a stream, so a file of gigabytes is read from disk
// as it is sent (never whole in memory) and the bytes sent can be reported as they go.
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

/** A file path, bytes, a Blob, or a stream (web or Node) of bytes. */
export type UploadSource =
  | string
  | Uint8Array
  | Blob
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>;

export interface UploadProgress {
  sentBytes: number;
  /** Unknown for a stream. */
  totalBytes: number | undefined;
}

export interface MultipartBody {
  contentType: string;
  /** A fresh body for each attempt (a stream source can be opened once only). */
  open(): ReadableStream<Uint8Array>;
  /** False for a stream: it cannot be sent again after a failed attempt. */
  replayable: boolean;
}

interface FileSource {
  name: string;
  size: number | undefined;
  chunks(): AsyncIterable<Uint8Array>;
  replayable: boolean;
}

async function fileSource(source: UploadSource, filename: string | undefined): Promise<FileSource> {
  if (typeof source === "string") {
    const { size } = await stat(source);
    return {
      name: filename ?? basename(source),
      size,
      chunks: () => createReadStream(source),
      replayable: true,
    };
  }
  if (source instanceof Uint8Array) {
    return {
      name: filename ?? "upload",
      size: source.byteLength,
      chunks: async function* () {
        yield source;
      },
      replayable: true,
    };
  }
  if (source instanceof Blob) {
    return {
      name: filename ?? (source instanceof File ? source.name : "upload"),
      size: source.size,
      chunks: () => source.stream(),
      replayable: true,
    };
  }
  let used = false;
  return {
    name: filename ?? "upload",
    size: undefined,
    chunks: () => {
      if (used) throw new Error("a stream upload cannot be sent twice");
      used = true;
      return source instanceof ReadableStream
        ? Readable.fromWeb(source as WebReadableStream<Uint8Array>)
        : source;
    },
    replayable: false,
  };
}

const quoted = (value: string) => value.replace(/[\r\n"\\]/g, (c) => encodeURIComponent(c));

/** `purpose` comes first: the API then applies that purpose's size limit while the file streams in. */
export async function multipartUpload(
  fields: Record<string, string>,
  source: UploadSource,
  filename: string | undefined,
  onProgress?: (progress: UploadProgress) => void,
): Promise<MultipartBody> {
  const file = await fileSource(source, filename);
  const boundary = `----veritrain${randomBytes(12).toString("hex")}`;
  const encoder = new TextEncoder();
  const head = encoder.encode(
    Object.entries(fields)
      .map(
        ([name, value]) =>
          `--${boundary}\r\ncontent-disposition: form-data; name="${quoted(name)}"\r\n\r\n${value}\r\n`,
      )
      .join("") +
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${quoted(file.name)}"\r\n` +
      "content-type: application/octet-stream\r\n\r\n",
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  async function* parts(): AsyncGenerator<Uint8Array> {
    yield head;
    let sentBytes = 0;
    onProgress?.({ sentBytes, totalBytes: file.size });
    for await (const chunk of file.chunks()) {
      yield chunk;
      sentBytes += chunk.byteLength;
      onProgress?.({ sentBytes, totalBytes: file.size });
    }
    yield tail;
  }
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    open: () => Readable.toWeb(Readable.from(parts())) as ReadableStream<Uint8Array>,
    replayable: file.replayable,
  };
}
