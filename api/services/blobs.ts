// Content-addressed blob storage. Uploads are staged first (streamed to a temporary file while
// their SHA-256 is computed and their size is bounded), inspected, and only then committed under
// their hash, so content that fails inspection never enters the store. The interface is small on
// purpose: an object store (S3 and the like) can stand behind it by staging locally and
// uploading on commit.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { access, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";

export type BlobStoreErrorCode = "BLOB_TOO_LARGE" | "BLOB_NOT_FOUND" | "INVALID_DIGEST";

export class BlobStoreError extends Error {
  constructor(
    readonly code: BlobStoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "BlobStoreError";
  }
}

/** Content streamed into the store but not yet visible under its hash. */
export interface StagedBlob {
  readonly sha256: string;
  readonly sizeBytes: number;
  /** A local file holding the content, for inspection; valid until commit or discard. */
  readonly path: string;
  /** Makes the content readable under its hash; content already stored under it is kept. */
  commit(): Promise<void>;
  /** Drops the staged content; safe to call more than once and after a commit. */
  discard(): Promise<void>;
}

export interface BlobStore {
  /** Streams `source` in, failing with BLOB_TOO_LARGE as soon as it exceeds `maxBytes`. */
  stage(source: Readable, maxBytes: number): Promise<StagedBlob>;
  /** Streams a committed blob's content; BLOB_NOT_FOUND when there is none. */
  read(sha256: string): Promise<Readable>;
  has(sha256: string): Promise<boolean>;
  /** Removes a committed blob; nothing happens when there is none. */
  remove(sha256: string): Promise<void>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const ABANDONED_AFTER_MS = 60 * 60 * 1000;

/** Hashes and counts the bytes flowing through, and fails the stream once it passes the limit. */
class MeteredStream extends Transform {
  readonly hash = createHash("sha256");
  sizeBytes = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sizeBytes += chunk.byteLength;
    if (this.sizeBytes > this.maxBytes) {
      callback(
        new BlobStoreError("BLOB_TOO_LARGE", `the content exceeds the limit of ${this.maxBytes} bytes`),
      );
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }
}

/**
 * Blobs under `<root>/sha256/<aa>/<bb>/<hash>`. Staging files live under `<root>/staging`, on the
 * same file system, so committing is one atomic rename: a reader never sees a partial blob.
 */
export class FilesystemBlobStore implements BlobStore {
  private readonly stagingDir: string;
  private sweep: Promise<number> | undefined;

  constructor(private readonly root: string) {
    this.stagingDir = join(root, "staging");
  }

  pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) {
      throw new BlobStoreError("INVALID_DIGEST", `"${sha256}" is not a lowercase hex SHA-256 digest`);
    }
    return join(this.root, "sha256", sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  async stage(source: Readable, maxBytes: number): Promise<StagedBlob> {
    await mkdir(this.stagingDir, { recursive: true });
    // Once per process: staging files a crash left behind. In the background, as nothing waits on it.
    this.sweep ??= this.removeAbandonedStaging(ABANDONED_AFTER_MS).catch(() => 0);
    const stagingPath = join(this.stagingDir, `${randomBytes(12).toString("hex")}.part`);
    const meter = new MeteredStream(maxBytes);
    try {
      await pipeline(source, meter, createWriteStream(stagingPath, { flags: "wx", flush: true }));
    } catch (error) {
      await rm(stagingPath, { force: true });
      throw error;
    }
    const sha256 = meter.hash.digest("hex");
    const finalPath = this.pathOf(sha256);
    let settled = false;
    return {
      sha256,
      sizeBytes: meter.sizeBytes,
      path: stagingPath,
      commit: async () => {
        if (settled) return;
        settled = true;
        if (await exists(finalPath)) {
          await rm(stagingPath, { force: true });
          return;
        }
        await mkdir(join(finalPath, ".."), { recursive: true });
        // Two concurrent commits of the same content both rename identical bytes: either wins.
        await rename(stagingPath, finalPath);
      },
      discard: async () => {
        settled = true;
        await rm(stagingPath, { force: true });
      },
    };
  }

  /**
   * Removes staging files untouched for `idleMs`: an upload in progress writes to its file all the
   * time, so only those of a process that died mid-upload go. Returns how many were removed.
   */
  async removeAbandonedStaging(idleMs: number): Promise<number> {
    const names = await readdir(this.stagingDir).catch(() => []);
    let removed = 0;
    for (const name of names) {
      const path = join(this.stagingDir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > idleMs) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  async read(sha256: string): Promise<Readable> {
    const path = this.pathOf(sha256);
    if (!(await exists(path))) throw new BlobStoreError("BLOB_NOT_FOUND", `no blob with SHA-256 ${sha256}`);
    return createReadStream(path);
  }

  async has(sha256: string): Promise<boolean> {
    return exists(this.pathOf(sha256));
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
