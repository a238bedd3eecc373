import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { after, before, test } from "node:test";
import { BlobStoreError, FilesystemBlobStore } from "./blobs.ts";

let root: string;
let store: FilesystemBlobStore;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "veritrain-blobs-"));
  store = new FilesystemBlobStore(root);
});
after(() => rm(root, { recursive: true, force: true }));

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A stream of `count` chunks of `size` bytes each, generated lazily like a network upload. */
function chunked(count: number, size: number, fill = 7): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < count; i++) yield Buffer.alloc(size, (fill + i) % 256);
    })(),
  );
}

async function stagingFiles(): Promise<string[]> {
  return readdir(join(root, "staging")).catch(() => []);
}

test("a staged and committed blob is stored under its SHA-256 and reads back byte for byte", async () => {
  const content = Buffer.from("weights and biases");
  const staged = await store.stage(Readable.from([content]), 1024);
  assert.equal(staged.sha256, sha256(content));
  assert.equal(staged.sizeBytes, content.byteLength);
  assert.deepEqual(await readFile(staged.path), content);
  assert.equal(await store.has(staged.sha256), false, "not visible before commit");

  await staged.commit();
  const hash = staged.sha256;
  assert.equal(store.pathOf(hash), join(root, "sha256", hash.slice(0, 2), hash.slice(2, 4), hash));
  assert.deepEqual(await readFile(store.pathOf(hash)), content);
  assert.deepEqual(await buffer(await store.read(hash)), content);
  assert.deepEqual(await stagingFiles(), []);
});

test("a multi-chunk stream is hashed as it flows", async () => {
  const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(64 * 1024, i));
  const staged = await store.stage(chunked(50, 64 * 1024, 0), 10 * 1024 * 1024);
  assert.equal(staged.sha256, sha256(Buffer.concat(chunks)));
  assert.equal(staged.sizeBytes, 50 * 64 * 1024);
  await staged.discard();
});

test("content over the limit fails with BLOB_TOO_LARGE and leaves no file behind", async () => {
  await assert.rejects(
    store.stage(chunked(20, 1000), 4096),
    (error: unknown) => error instanceof BlobStoreError && error.code === "BLOB_TOO_LARGE",
  );
  assert.deepEqual(await stagingFiles(), []);
});

test("content exactly at the limit is accepted", async () => {
  const staged = await store.stage(chunked(4, 1024), 4096);
  assert.equal(staged.sizeBytes, 4096);
  await staged.discard();
});

test("identical content is stored once; committing it again keeps the existing blob", async () => {
  const content = Buffer.from("same bytes twice");
  const first = await store.stage(Readable.from([content]), 1024);
  await first.commit();
  const second = await store.stage(Readable.from([content]), 1024);
  assert.equal(second.sha256, first.sha256);
  await second.commit();
  const dir = join(root, "sha256", first.sha256.slice(0, 2), first.sha256.slice(2, 4));
  assert.deepEqual(await readdir(dir), [first.sha256]);
  assert.deepEqual(await stagingFiles(), []);
});

test("a discarded blob is never visible", async () => {
  const staged = await store.stage(Readable.from([Buffer.from("rejected model")]), 1024);
  await staged.discard();
  await staged.discard();
  assert.equal(await store.has(staged.sha256), false);
  assert.deepEqual(await stagingFiles(), []);
});

test("a failing source leaves no staging file", async () => {
  const failing = new Readable({
    read() {
      this.push(Buffer.alloc(100));
      this.destroy(new Error("client went away"));
    },
  });
  await assert.rejects(store.stage(failing, 1024), /client went away/);
  assert.deepEqual(await stagingFiles(), []);
});

test("reading a missing blob fails with BLOB_NOT_FOUND; a malformed digest is refused", async () => {
  await assert.rejects(
    store.read("0".repeat(64)),
    (error: unknown) => error instanceof BlobStoreError && error.code === "BLOB_NOT_FOUND",
  );
  await assert.rejects(
    store.read("../../etc/passwd"),
    (error: unknown) => error instanceof BlobStoreError && error.code === "INVALID_DIGEST",
  );
});

test("staging files left by a crash are swept; those still being written are not", async () => {
  const staging = join(root, "staging");
  await mkdir(staging, { recursive: true });
  await writeFile(join(staging, "abandoned.part"), "half an upload");
  const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
  await utimes(join(staging, "abandoned.part"), twoHoursAgo, twoHoursAgo);
  await writeFile(join(staging, "in-progress.part"), "still arriving");
  assert.equal(await store.removeAbandonedStaging(60 * 60 * 1000), 1);
  assert.deepEqual(await stagingFiles(), ["in-progress.part"]);
  await rm(join(staging, "in-progress.part"));
});
