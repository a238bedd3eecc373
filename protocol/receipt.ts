// A training receipt and its offline verification. The receipt is canonical JSON signed by the
// platform; inside it, the worker's commitment and every audit verdict carry their own sr25519
// signatures, so a verifier needs to trust neither the platform's database nor its word.
import { createPublicKey, verify } from "node:crypto";
import { blake2AsHex, signatureVerify } from "@polkadot/util-crypto";
import { canonicalBytes } from "./canonical-json.ts";
import { merkleRoot } from "./merkle.ts";
import { modelCarriesCheckpoint } from "./model-weights.ts";
import { commitmentMessage, receiptMessage, sha256Hex, verdictMessage } from "./signed-messages.ts";

export interface ReceiptAudit {
  verifier: string;
  from_step: number;
  to_step: number;
  leaf_from: string;
  leaf_to: string;
  agrees: boolean;
  signature: string;
}

export interface ReceiptChallenge {
  challenger: string;
  from_step: number;
  to_step: number;
  outcome: "worker_upheld" | "worker_slashed" | "verifier_slashed" | "forced_error_caught";
}

export interface ChainAnchor {
  purpose: string;
  block_number: number;
  block_hash: string;
  extrinsic_hash: string;
}

export interface ReceiptBody {
  version: 1;
  job_id: string;
  task_id: string;
  issued_at: string;
  model_sha256: string;
  dataset_sha256: string;
  spec_sha256: string;
  spec: unknown;
  /**
   * blake2-256 of the canonical JSON of the determinism profile (onnxruntime version, threads, CPU
   * features, …) the worker trained under and every verifier replayed under, as registered on
   * chain; null when the platform did not record it.
   */
  profile_blake2_256: string | null;
  verification_level: string;
  result: { model_sha256: string; metrics: Record<string, unknown> };
  checkpoints: { interval: number; steps: number[]; leaves: string[]; root: string };
  worker: { address: string; commitment_signature: string };
  audits: ReceiptAudit[];
  challenges: ReceiptChallenge[];
  chain: { genesis_hash: string; task_id: string; anchors: ChainAnchor[] };
  platform: { public_key: string };
}

export interface Receipt {
  body: ReceiptBody;
  /** Ed25519 signature by `body.platform.public_key` over receiptMessage(body), hex. */
  signature: string;
}

export interface ReceiptCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ReceiptVerification {
  valid: boolean;
  checks: ReceiptCheck[];
}

export interface VerifyReceiptOptions {
  /**
   * The platform's Ed25519 key (hex) as GET /v1/receipt-keys publishes it, or pinned from there.
   * Required: the key a receipt names is the forger's choice, so it is never trusted on its own
   * (the SDK's `receiptKeys.verify` fetches the published key for you).
   */
  platformPublicKey: string;
  /**
   * The canonical bytes of the run's last checkpoint (GET /v1/training-jobs/{id}/checkpoints).
   * With them, the model is also checked to carry exactly that checkpoint's weights, and the
   * checkpoint to be the last committed leaf.
   */
  finalCheckpoint?: Uint8Array;
  /**
   * The determinism profile (worker-runtime/train/profile.ts) of a machine the user trusts, e.g.
   * the one it will replay on: checked to be the profile the run was bound to.
   */
  profile?: unknown;
}

function fromHex(hex: string): Uint8Array {
  const clean = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (!/^([0-9a-f]{2})*$/i.test(clean)) throw new TypeError(`not hex: ${hex.slice(0, 20)}`);
  return new Uint8Array(Buffer.from(clean, "hex"));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function ed25519Verify(message: Uint8Array, signatureHex: string, publicKeyHex: string): boolean {
  const key = createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(fromHex(publicKeyHex)).toString("base64url") },
    format: "jwk",
  });
  return verify(null, message, key, fromHex(signatureHex));
}

function sr25519Valid(message: Uint8Array, signatureHex: string, address: string): boolean {
  try {
    return signatureVerify(message, fromHex(signatureHex), address).isValid;
  } catch {
    return false;
  }
}

/** The hash the chain and the receipt record for a determinism profile: blake2-256 of its canonical JSON. */
export function profileHash(profile: unknown): string {
  return blake2AsHex(canonicalBytes(profile), 256).slice(2);
}

/** The hash the receipt records for a training spec. */
export function specHash(spec: unknown): string {
  return sha256Hex(canonicalBytes(spec));
}

export function checkpointRoot(leaves: readonly string[]): string {
  return toHex(merkleRoot(leaves.map(fromHex)));
}

/**
 * Checks everything a receipt claims that can be checked offline with the trained model at hand.
 * Every check is reported, failed or not, so a caller can show exactly what did not hold.
 */
export function verifyReceipt(
  receipt: Receipt,
  modelBytes: Uint8Array,
  options: VerifyReceiptOptions,
): ReceiptVerification {
  // Callers from plain JavaScript can still leave the options out: that fails the signature check.
  const given: Partial<VerifyReceiptOptions> = options ?? {};
  const checks: ReceiptCheck[] = [];
  const check = (name: string, run: () => boolean | string) => {
    try {
      const outcome = run();
      checks.push({ name, ok: outcome === true, detail: outcome === true ? "ok" : String(outcome) });
    } catch (error) {
      checks.push({ name, ok: false, detail: error instanceof Error ? error.message : String(error) });
    }
  };
  const { body } = receipt;

  check("platform_signature", () => {
    const key = given.platformPublicKey;
    if (typeof key !== "string" || key === "") {
      return "no platformPublicKey given: pass the key GET /v1/receipt-keys publishes (or one pinned from there); the key inside a receipt proves nothing";
    }
    if (key !== body.platform.public_key) return "signed with a key other than the platform's published key";
    return ed25519Verify(receiptMessage(body), receipt.signature, key) || "signature does not verify";
  });
  check("model_hash", () => {
    const actual = sha256Hex(modelBytes);
    return (
      actual === body.result.model_sha256 ||
      `the model's SHA-256 is ${actual}, the receipt says ${body.result.model_sha256}`
    );
  });
  const { finalCheckpoint } = given;
  if (finalCheckpoint) {
    check("model_from_last_checkpoint", () => {
      const actual = sha256Hex(finalCheckpoint);
      const last = body.checkpoints.leaves.at(-1);
      if (actual !== last) return `the checkpoint's SHA-256 is ${actual}, the last committed leaf is ${last}`;
      return modelCarriesCheckpoint(modelBytes, finalCheckpoint);
    });
  }
  check("spec_hash", () => specHash(body.spec) === body.spec_sha256 || "the spec does not match spec_sha256");
  check("profile_hash", () => {
    const recorded = body.profile_blake2_256;
    if (recorded !== null && !/^[0-9a-f]{64}$/.test(recorded))
      return "profile_blake2_256 is not 32 bytes of lowercase hex";
    if (given.profile === undefined) return true;
    const actual = profileHash(given.profile);
    return actual === recorded || `the given profile hashes to ${actual}, the run was bound to ${recorded}`;
  });
  check("checkpoint_root", () => {
    const { leaves, steps, root } = body.checkpoints;
    if (leaves.length === 0 || leaves.length !== steps.length)
      return "leaves and steps must be non-empty and equally long";
    const computed = checkpointRoot(leaves);
    return computed === root || `the leaves hash to ${computed}, the receipt says ${root}`;
  });
  check("worker_commitment", () => {
    const message = commitmentMessage({
      taskId: body.task_id,
      checkpointRoot: body.checkpoints.root,
      leafCount: body.checkpoints.leaves.length,
      modelSha256: body.result.model_sha256,
    });
    return (
      sr25519Valid(message, body.worker.commitment_signature, body.worker.address) ||
      "the worker's signature does not verify"
    );
  });
  const audits: unknown = body.audits;
  check("audits_present", () => (Array.isArray(audits) && audits.length > 0) || "no segment was audited");
  (Array.isArray(audits) ? (audits as ReceiptAudit[]) : []).forEach((audit, i) => {
    check(`audit_${i}`, () => {
      const { steps, leaves } = body.checkpoints;
      const from = steps.indexOf(audit.from_step);
      const to = steps.indexOf(audit.to_step);
      if (from < 0 || to !== from + 1)
        return `steps ${audit.from_step}..${audit.to_step} are not a checkpoint segment`;
      if (leaves[from] !== audit.leaf_from || leaves[to] !== audit.leaf_to)
        return "the audited checkpoints are not the committed ones";
      if (!audit.agrees) return `verifier ${audit.verifier} disagreed with the segment`;
      const message = verdictMessage({
        taskId: body.task_id,
        checkpointRoot: body.checkpoints.root,
        fromStep: audit.from_step,
        fromSha256: audit.leaf_from,
        toStep: audit.to_step,
        toSha256: audit.leaf_to,
        agrees: audit.agrees,
      });
      return (
        sr25519Valid(message, audit.signature, audit.verifier) || "the verifier's signature does not verify"
      );
    });
  });
  return { valid: checks.every((c) => c.ok), checks };
}
