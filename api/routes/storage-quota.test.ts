// Per-organization storage quota through POST /v1/files: an upload past it is refused with the
// quota and the usage, deleting frees room, other organizations are unaffected, and two uploads
// racing for the same remaining bytes cannot both get them.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import { type SignedUp, signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { multipartBody } from "../../test/support/uploads.ts";
import { StorageQuotaError } from "../services/storage-quota.ts";

const QUOTA = 100_000;

let t: TestApp;
before(async () => {
  t = await createTestApp({ storageQuotaBytes: QUOTA });
});
after(() => t.close());

const fixture = (name: string) => readFile(new URL(`../../worker-runtime/fixtures/${name}`, import.meta.url));

async function upload(user: SignedUp, name: string) {
  const { payload, headers } = await multipartBody([
    ["purpose", "model"],
    ["file", await fixture(name), name],
  ]);
  return t.app.inject({
    method: "POST",
    url: "/v1/files",
    payload,
    headers: { ...headers, ...user.headers },
  });
}

async function storage(user: SignedUp) {
  const res = await t.app.inject({ method: "GET", url: "/v1/files", headers: user.headers });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ storage: { used_bytes: number; quota_bytes: number } }>().storage;
}

test("an upload past the organization's quota is refused with the quota and the usage; deleting frees room", async () => {
  const alice = await signUp(t.app);
  const bob = await signUp(t.app);
  const mlpBytes = (await fixture("mlp.onnx")).length;
  const attentionBytes = (await fixture("attention.onnx")).length;
  assert.ok(mlpBytes + attentionBytes > QUOTA && mlpBytes < QUOTA, "the fixtures no longer fit the test");

  const mlp = await upload(alice, "mlp.onnx");
  assert.equal(mlp.statusCode, 201, mlp.body);
  assert.deepEqual(await storage(alice), { used_bytes: mlpBytes, quota_bytes: QUOTA });

  const refused = expectApiError(await upload(alice, "attention.onnx"), 413, "storage_quota_exceeded");
  assert.equal(refused.param, "file");
  assert.match(refused.message, new RegExp(`storage quota of ${QUOTA} bytes \\(${mlpBytes} bytes in use\\)`));
  assert.match(refused.message, /DELETE \/v1\/files/);
  assert.deepEqual(await storage(alice), { used_bytes: mlpBytes, quota_bytes: QUOTA }, "nothing kept");

  assert.equal(
    (await upload(bob, "attention.onnx")).statusCode,
    201,
    "another organization has its own quota",
  );

  const deleted = await t.app.inject({
    method: "DELETE",
    url: `/v1/files/${mlp.json().id}`,
    headers: alice.headers,
  });
  assert.equal(deleted.statusCode, 200, deleted.body);
  assert.equal((await storage(alice)).used_bytes, 0);
  assert.equal((await upload(alice, "attention.onnx")).statusCode, 201);
});

test("two uploads racing for the same remaining bytes cannot both be stored", async () => {
  const carol = await signUp(t.app);
  const mlp = await fixture("mlp.onnx");
  assert.ok(2 * mlp.length > QUOTA);
  // Over HTTP the two may or may not overlap: whichever check refuses the second, one is stored.
  const answers = await Promise.all([upload(carol, "mlp.onnx"), upload(carol, "mlp.onnx")]);
  const statuses = answers.map((r) => r.statusCode).sort();
  assert.deepEqual(statuses, [201, 413], answers.map((r) => r.body).join("\n"));
  expectApiError(answers.find((r) => r.statusCode === 413)!, 413, "storage_quota_exceeded");
  assert.equal((await storage(carol)).used_bytes, mlp.length);

  // Both streamed in while the quota was empty: the record of one must refuse the other.
  const dave = await signUp(t.app);
  const { files } = t.services;
  const staged = await Promise.all(
    [1, 2].map(() => files.stage(dave.organizationId, Readable.from([mlp]), "model")),
  );
  const outcomes = await Promise.allSettled(
    staged.map((blob) =>
      files.create(dave.organizationId, { purpose: "model", filename: "mlp.onnx", staged: blob }),
    ),
  );
  assert.deepEqual(outcomes.map((o) => o.status).sort(), ["fulfilled", "rejected"]);
  const refused = outcomes.find((o) => o.status === "rejected")!.reason;
  assert.ok(refused instanceof StorageQuotaError, String(refused));
  assert.match(
    refused.message,
    new RegExp(
      `Storing this file \\(${mlp.length} bytes\\) would bring the organization's files to ${2 * mlp.length} bytes`,
    ),
  );
  assert.equal((await storage(dave)).used_bytes, mlp.length);
});
