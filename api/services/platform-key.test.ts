import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { ConfigError } from "../../config/errors.ts";
import { verifyReceipt } from "../../protocol/receipt.ts";
import { receiptMessage } from "../../protocol/signed-messages.ts";
import { PlatformKey } from "./platform-key.ts";

const dataDir = mkdtempSync(join(tmpdir(), "veritrain-key-"));
after(() => rmSync(dataDir, { recursive: true, force: true }));

test("a development key is made once, kept owner-only, and signs what the SDK verifies", () => {
  const first = PlatformKey.load(undefined, dataDir);
  const again = PlatformKey.load(undefined, dataDir);
  assert.equal(again.publicKeyHex, first.publicKeyHex, "a restart keeps the key");
  assert.match(first.publicKeyHex, /^[0-9a-f]{64}$/);
  assert.equal(statSync(join(dataDir, "platform-signing-key.pem")).mode & 0o777, 0o600);
  // The SDK's platform-signature check over a body signed with this key.
  const body = { platform: { public_key: first.publicKeyHex } };
  const checks = verifyReceipt(
    { body, signature: first.signHex(receiptMessage(body)) } as never,
    new Uint8Array(),
    { platformPublicKey: first.publicKeyHex },
  ).checks;
  assert.equal(checks.find((c) => c.name === "platform_signature")?.ok, true);
  const forged = PlatformKey.load(undefined, mkdtempSync(join(dataDir, "other-")));
  const refused = verifyReceipt(
    { body, signature: forged.signHex(receiptMessage(body)) } as never,
    new Uint8Array(),
    { platformPublicKey: first.publicKeyHex },
  ).checks;
  assert.equal(refused.find((c) => c.name === "platform_signature")?.ok, false);
});

test("PLATFORM_SIGNING_KEY takes precedence, and only an Ed25519 PEM is accepted", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const configured = PlatformKey.load(pem, dataDir);
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url").toString("hex");
  assert.equal(configured.publicKeyHex, raw);
  assert.throws(
    () => PlatformKey.fromPem("not a key"),
    (e: ConfigError) => e.code === "INVALID_PLATFORM_KEY",
  );
  const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
    format: "pem",
    type: "pkcs8",
  });
  assert.throws(
    () => PlatformKey.fromPem(rsa.toString()),
    (e: ConfigError) => e.code === "INVALID_PLATFORM_KEY" && /Ed25519/.test(e.message),
  );
});
