// The blob store as nodes reach it: they download models, datasets and checkpoints by hash, and
// upload checkpoints, trained models and dispute evidence, which are bounded in size and enter the
// store only when their bytes hash to what the node signed (api/plugins/node-auth.ts checks that
// signature).
import type { Readable } from "node:stream";
import { ApiError } from "../../errors.ts";
import { type BlobStore, BlobStoreError, type StagedBlob } from "../blobs.ts";

export type Upload = "checkpoint" | "model" | "evidence";

export interface UploadLimits {
  checkpointBytes: number;
  modelBytes: number;
  /** A dispute's evidence bundle (one checkpoint and one operator's inputs, base64 in JSON). */
  evidenceBytes: number;
}

export class NodeBlobs {
  constructor(
    private readonly blobs: BlobStore,
    /** Largest upload of each kind a node may make, in bytes. */
    private readonly limits: UploadLimits,
  ) {}

  /** Streams an upload into the store if it hashes to `sha256`; returns its size in bytes. */
  async store(what: Upload, content: Readable, sha256: string): Promise<number> {
    const maxBytes = this.limits[`${what}Bytes`];
    let staged: StagedBlob;
    try {
      staged = await this.blobs.stage(content, maxBytes);
    } catch (error) {
      if (error instanceof BlobStoreError && error.code === "BLOB_TOO_LARGE") {
        throw new ApiError(
          413,
          "invalid_request_error",
          "body_too_large",
          `the ${what} exceeds ${maxBytes} bytes`,
        );
      }
      throw error;
    }
    if (staged.sha256 !== sha256) {
      await staged.discard();
      throw ApiError.badRequest(
        "content_hash_mismatch",
        `the uploaded ${what} has SHA-256 ${staged.sha256}, not the ${sha256} that was signed`,
        "x-content-sha256",
      );
    }
    await staged.commit();
    return staged.sizeBytes;
  }

  has(sha256: string): Promise<boolean> {
    return this.blobs.has(sha256);
  }

  async open(sha256: string): Promise<Readable> {
    try {
      return await this.blobs.read(sha256);
    } catch (error) {
      if (error instanceof BlobStoreError) throw ApiError.notFound("blob", sha256, "sha256");
      throw error;
    }
  }
}
