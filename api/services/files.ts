// Uploaded models and datasets: content in the blob store (by SHA-256), one row per upload with
// what inspection found. Deleting is soft: the row disappears from the API, while the content
// stays in the blob store, where jobs that use the file keep reading it by hash.
import type { Readable } from "node:stream";
import type { Static } from "@sinclair/typebox";
import type { Database } from "../../prisma/client.ts";
import type { File as FileRow } from "../../prisma/generated/client.ts";
import { isId, newId } from "../ids.ts";
import { pageOf } from "../schemas/common.ts";
import type { File } from "../schemas/files.ts";
import { FILE_PURPOSES, type FilePurpose } from "../schemas/files.ts";
import { lockBlob } from "./blob-locks.ts";
import { type BlobStore, BlobStoreError, type StagedBlob } from "./blobs.ts";
import { DomainError, NotFoundError } from "./domain-errors.ts";
import type { FileDetails } from "./inspection/inspect.ts";
import type { Inspector } from "./inspection/inspector.ts";
import { type StorageQuota, StorageQuotaError } from "./storage-quota.ts";

/** A file as the API answers it: the SDK's type is its one definition. */
export type FileView = Static<typeof File>;

export interface Upload {
  purpose: FilePurpose;
  filename: string;
  staged: StagedBlob;
}

export interface FileContent {
  file: FileView;
  contentType: string;
  /** Opens the bytes; not called for HEAD requests. */
  open(): Promise<Readable>;
}

export interface ListFilesQuery {
  limit: number;
  after?: string | undefined;
  purpose?: FilePurpose | undefined;
}

export type UploadLimits = Record<FilePurpose, number>;

function view(row: FileRow): FileView {
  return {
    id: row.id,
    purpose: row.purpose,
    filename: row.filename,
    bytes: Number(row.sizeBytes),
    sha256: row.sha256,
    created_at: row.createdAt.toISOString(),
    details: row.details as unknown as FileDetails,
  };
}

export class FileTooLargeError extends DomainError<"file_too_large"> {
  constructor(
    readonly limitBytes: number,
    purpose: FilePurpose | undefined,
  ) {
    const what = purpose ? `a ${purpose}` : "any file";
    super("file_too_large", `The file is larger than the ${limitBytes} bytes accepted for ${what}`, "file");
  }
}

export class Files {
  constructor(
    private readonly db: Database,
    readonly blobs: BlobStore,
    private readonly inspector: Inspector,
    private readonly limits: UploadLimits,
    readonly quota: StorageQuota,
  ) {}

  /** The size accepted for a purpose; before the purpose is known, the largest of all. */
  limitFor(purpose: FilePurpose | undefined): number {
    return purpose ? this.limits[purpose] : Math.max(...FILE_PURPOSES.map((p) => this.limits[p]));
  }

  /**
   * Streams an upload's content in, refusing it as soon as it passes the size limit or what is
   * left of the organization's storage quota (checked again when the file is recorded).
   */
  async stage(
    organizationId: string,
    content: Readable,
    purpose: FilePurpose | undefined,
  ): Promise<StagedBlob> {
    const limit = this.limitFor(purpose);
    const usage = await this.quota.usage(organizationId);
    const left = Math.max(0, usage.quota_bytes - usage.used_bytes);
    try {
      return await this.blobs.stage(content, Math.min(limit, left));
    } catch (error) {
      if (error instanceof BlobStoreError && error.code === "BLOB_TOO_LARGE") {
        throw left < limit ? StorageQuotaError.whileStreaming(usage) : new FileTooLargeError(limit, purpose);
      }
      throw error;
    }
  }

  /**
   * Inspects staged content and, when it is a valid model or dataset, stores it and records the
   * file. A rejected upload leaves nothing behind. Should the insert fail after the commit, the
   * blob stays unreferenced: harmless, since blobs are content-addressed and shared.
   */
  async create(organizationId: string, { purpose, filename, staged }: Upload): Promise<FileView> {
    try {
      const limit = this.limitFor(purpose);
      if (staged.sizeBytes > limit) throw new FileTooLargeError(limit, purpose);
      const details = await this.inspector.inspect({ purpose, path: staged.path, filename });
      const row = await this.db.$transaction(async (tx) => {
        // The sweep of deleted files' bytes takes the same lock: it cannot remove these bytes
        // between their commit (which keeps a copy already stored) and the row that needs them.
        await lockBlob(tx, staged.sha256);
        await this.quota.reserve(tx, organizationId, staged.sizeBytes);
        await staged.commit();
        return tx.file.create({
          data: {
            id: newId("file"),
            organizationId,
            purpose,
            filename,
            sizeBytes: BigInt(staged.sizeBytes),
            sha256: staged.sha256,
            details: details as object,
          },
        });
      });
      return view(row);
    } finally {
      await staged.discard();
    }
  }

  /** Stops the inspection worker, ending an inspection in flight. */
  close(): Promise<void> {
    return this.inspector.close();
  }

  async list(organizationId: string, { limit, after, purpose }: ListFilesQuery) {
    const rows = await this.db.file.findMany({
      where: {
        organizationId,
        deletedAt: null,
        ...(purpose ? { purpose } : {}),
        ...(after ? { id: { lt: after } } : {}),
      },
      orderBy: { id: "desc" },
      take: limit + 1,
    });
    return { ...pageOf(rows.map(view), limit), storage: await this.quota.usage(organizationId) };
  }

  /** A live file of this organization; anything else (unknown, deleted, another's) is 404. */
  async get(organizationId: string, id: string): Promise<FileView> {
    return view(await this.row(organizationId, id));
  }

  async content(organizationId: string, id: string): Promise<FileContent> {
    const file = view(await this.row(organizationId, id));
    const isCsv = "format" in file.details && file.details.format === "csv";
    return {
      file,
      contentType: isCsv ? "text/csv" : "application/octet-stream",
      open: () => this.blobs.read(file.sha256),
    };
  }

  async remove(organizationId: string, id: string): Promise<FileView & { deleted_at: string }> {
    const deletedAt = new Date();
    // Conditional on the row being live, so of two concurrent deletes exactly one succeeds.
    const { count } = isId("file", id)
      ? await this.db.file.updateMany({ where: { id, organizationId, deletedAt: null }, data: { deletedAt } })
      : { count: 0 };
    if (count === 0) throw new NotFoundError("file", id, "id");
    const row = await this.db.file.findUniqueOrThrow({ where: { id } });
    return { ...view(row), deleted_at: deletedAt.toISOString() };
  }

  private async row(organizationId: string, id: string): Promise<FileRow> {
    const row = isId("file", id)
      ? await this.db.file.findFirst({ where: { id, organizationId, deletedAt: null } })
      : null;
    if (!row) throw new NotFoundError("file", id, "id");
    return row;
  }
}
