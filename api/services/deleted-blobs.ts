// Deleting a file hides it at once; its bytes go later, once nothing needs them: no live file has
// the same content (blobs are shared by hash) and no unfinished job trains on it. Until then a
// queued or running job still reads its model and dataset, and nodes leasing it download them.
import type { Database } from "../../prisma/client.ts";
import { lockBlob } from "./blob-locks.ts";
import type { BlobStore } from "./blobs.ts";

/** Jobs that may still read their files: everything before a final status. */
const UNFINISHED = ["queued", "running", "verifying"] as const;
// A file being chosen for a job while it is deleted is still safe: its bytes outlive the deletion
// by at least this long, and the job's row is there long before.
const GRACE_MS = 10 * 60 * 1000;
const BATCH = 100;

export interface DeletedBlobsOptions {
  /** How long after its deletion a file's bytes may go (default 10 minutes). */
  graceMs?: number;
}

export class DeletedBlobs {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly graceMs: number;

  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly logError: (error: unknown, message: string) => void,
    options: DeletedBlobsOptions = {},
  ) {
    this.graceMs = options.graceMs ?? GRACE_MS;
  }

  /** Sweeps every `intervalMs`; every API instance may run it, the blob locks keep them apart. */
  start(intervalMs: number): void {
    this.timer ??= setInterval(() => {
      this.running ??= this.sweep()
        .catch((error: unknown) => this.logError(error, "removing deleted files' bytes failed"))
        .finally(() => {
          this.running = undefined;
        });
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Removes the bytes of deleted files nothing needs any more; returns the hashes removed. */
  async sweep(now: Date = new Date()): Promise<string[]> {
    const cutoff = new Date(now.getTime() - this.graceMs);
    const candidates = await this.db.file.findMany({
      where: { deletedAt: { lte: cutoff }, purgedAt: null },
      select: { sha256: true },
      distinct: ["sha256"],
      take: BATCH,
    });
    const removed: string[] = [];
    for (const { sha256 } of candidates) {
      if (await this.release(sha256, now)) removed.push(sha256);
    }
    return removed;
  }

  /**
   * Removes one blob if nothing needs it, and marks its deleted files purged. A blob a live file
   * shares stays, and its deleted files are marked all the same: the live file's own deletion
   * brings the blob back to the sweep. A blob an unfinished job needs waits for the job.
   */
  private release(sha256: string, now: Date): Promise<boolean> {
    return this.db.$transaction(
      async (tx) => {
        await lockBlob(tx, sha256);
        const files = await tx.file.findMany({ where: { sha256 }, select: { id: true, deletedAt: true } });
        const ids = files.map((f) => f.id);
        const inUse = await tx.trainingJob.count({
          where: {
            status: { in: [...UNFINISHED] },
            OR: [{ modelFileId: { in: ids } }, { datasetFileId: { in: ids } }],
          },
        });
        if (inUse > 0) return false;
        const live = files.some((f) => f.deletedAt === null);
        if (!live) await this.blobs.remove(sha256);
        await tx.file.updateMany({
          where: { sha256, deletedAt: { not: null }, purgedAt: null },
          data: { purgedAt: now },
        });
        return !live;
      },
      { timeout: 60_000 },
    );
  }
}
