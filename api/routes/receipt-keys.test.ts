import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import { createTestApp } from "../../test/support/app.ts";

interface ReceiptKeyJson {
  id: string;
  algorithm: string;
  public_key: string;
  public_key_pem: string;
  created_at: string | null;
}

const rawHex = (pem: string) =>
  Buffer.from(createPublicKey(pem).export({ format: "jwk" }).x!, "base64url").toString("hex");

test("GET /v1/receipt-keys publishes, without authentication, the key receipts are signed with", async () => {
  const t = await createTestApp();
  try {
    const res = await t.app.inject({ method: "GET", url: "/v1/receipt-keys" });
    assert.equal(res.statusCode, 200, res.body);
    const { data, has_more } = res.json<{ data: ReceiptKeyJson[]; has_more: boolean }>();
    assert.equal(has_more, false);
    assert.equal(data.length, 1);
    const [key] = data;
    assert.match(key!.id, /^rk_[0-9a-f]{24}$/);
    assert.equal(key!.algorithm, "ed25519");
    assert.equal(key!.public_key, t.services.receipts.publicKeyHex);
    assert.equal(rawHex(key!.public_key_pem), key!.public_key, "the PEM is the same key");
    assert.ok(Date.now() - Date.parse(key!.created_at!) < 600_000, "made by this development stack");
  } finally {
    await t.close();
  }
});

test("a configured PLATFORM_SIGNING_KEY is the one published, with no creation time", async () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const t = await createTestApp({
    platformSigningKey: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  });
  try {
    const [key] = (await t.app.inject({ method: "GET", url: "/v1/receipt-keys" })).json<{
      data: ReceiptKeyJson[];
    }>().data;
    assert.equal(key!.public_key, rawHex(publicKey.export({ format: "pem", type: "spki" }).toString()));
    assert.equal(key!.created_at, null);
  } finally {
    await t.close();
  }
});
