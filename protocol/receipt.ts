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

/** Where a dispute's event is on chain: its block, and its index among the block's events. */
export interface DisputeAnchor {
  purpose: "dispute_opened" | "dispute_round" | "dispute_resolved";
  block_number: number;
  event_index: number;
  block_hash: string;
  extrinsic_hash: string | null;
}

export type DisputeParty = { role: "worker" | "verifier" | "whistleblower"; address: string };

/**
 * A dispute of the pinpoint game over one audit (PROTOCOL.md §6): a verifier against the worker's
 * commitment, or a whistleblower against a verifier's transcript. `fraud_proven`: the defender lost;
 * `challenge_rejected`: the challenger lost; `aborted`: the attempt was voided by another dispute
 * the worker lost before this one ended.
 */
export interface ReceiptChallenge {
  dispute_id: string;
  kind: "commitment" | "transcript";
  /** The task's attempt whose audit was disputed; the model comes from `worker.attempt`. */
  attempt: number;
  audit_index: number;
  segment: { from_step: number; to_step: number };
  challenger: DisputeParty;
  defender: DisputeParty;
  /** Bisection rounds played (one `dispute_round` anchor each). */
  rounds: number;
  disputed_step: number | null;
  disputed_operator: number | null;
  outcome: "fraud_proven" | "challenge_rejected" | "aborted";
  loser: DisputeParty | null;
  decided_by: "referee" | "timeout" | null;
  anchors: DisputeAnchor[];
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
  /** The worker whose attempt delivered the model (attempts count from 0; earlier ones were voided). */
  /**
   * `commitment_signature` is null when the worker committed its root on chain, was challenged for
   * never delivering, and the referee ruled it had (PROTOCOL.md §7): the platform then completed
   * on its behalf, and the worker's own signed extrinsic (anchor `checkpoints_committed`, with the
   * `delivery_ruled` anchor) is its commitment.
   */
  worker: { address: string; attempt: number; commitment_signature: string | null };
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
    if (body.worker.commitment_signature === null) {
      const purposes = new Set(body.chain.anchors.map((anchor) => anchor.purpose));
      return (
        (purposes.has("checkpoints_committed") && purposes.has("delivery_ruled")) ||
        "no worker signature, and no commit on chain ruled delivered stands in for it"
      );
    }
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
  const challenges: unknown = body.challenges;
  check("challenges", () => {
    if (!Array.isArray(challenges)) return "challenges must be a list";
    for (const [i, challenge] of (challenges as ReceiptChallenge[]).entries()) {
      const wrong = challengeProblem(challenge, body.worker);
      if (wrong !== null) return `challenge ${i} (dispute ${challenge?.dispute_id}): ${wrong}`;
    }
    return true;
  });
  return { valid: checks.every((c) => c.ok), checks };
}

const OUTCOMES = new Set(["fraud_proven", "challenge_rejected", "aborted"]);
const anchorOrder = (a: DisputeAnchor, b: DisputeAnchor) =>
  a.block_number - b.block_number || a.event_index - b.event_index;

/**
 * What is inconsistent in one dispute of a receipt, or null: its outcome and anchors must be well
 * formed and agree with each other, and a dispute that proved the worker's fraud (or was aborted
 * when an attempt was voided) cannot be about the attempt that delivered the model.
 */
function challengeProblem(challenge: ReceiptChallenge, worker: ReceiptBody["worker"]): string | null {
  if (typeof challenge !== "object" || challenge === null) return "not an object";
  if (!OUTCOMES.has(challenge.outcome)) return `unknown outcome ${String(challenge.outcome)}`;
  if (!Number.isInteger(challenge.attempt) || challenge.attempt < 0) return "attempt is not a count";
  if (!Array.isArray(challenge.anchors)) return "anchors must be a list";
  for (const anchor of challenge.anchors) {
    const wellFormed =
      Number.isInteger(anchor.block_number) &&
      anchor.block_number >= 0 &&
      Number.isInteger(anchor.event_index) &&
      anchor.event_index >= 0 &&
      /^0x[0-9a-f]{64}$/.test(anchor.block_hash);
    if (!wellFormed) return `anchor ${anchor.purpose} is not a block number, event index and block hash`;
  }
  const sorted = [...challenge.anchors].sort(anchorOrder);
  if (sorted[0]?.purpose !== "dispute_opened") return "the first anchor is not the dispute's opening";
  if (sorted.filter((a) => a.purpose === "dispute_opened").length !== 1) return "more than one opening";
  const rounds = sorted.filter((a) => a.purpose === "dispute_round").length;
  if (rounds !== challenge.rounds) return `${challenge.rounds} rounds claimed, ${rounds} anchored`;
  const resolved = sorted.filter((a) => a.purpose === "dispute_resolved");
  if (challenge.outcome === "aborted") {
    if (resolved.length > 0 || challenge.loser !== null || challenge.decided_by !== null)
      return "an aborted dispute has no resolution";
    if (challenge.attempt === worker.attempt)
      return "a dispute is aborted only by voiding its attempt, yet its attempt delivered the model";
    return null;
  }
  if (resolved.length !== 1 || sorted.at(-1) !== resolved[0]) return "the resolution is not its last anchor";
  if (challenge.decided_by !== "referee" && challenge.decided_by !== "timeout") return "decided by nobody";
  const loser = challenge.outcome === "fraud_proven" ? challenge.defender : challenge.challenger;
  if (challenge.loser?.address !== loser?.address || challenge.loser?.role !== loser?.role)
    return `the loser of a ${challenge.outcome} dispute is its ${challenge.outcome === "fraud_proven" ? "defender" : "challenger"}`;
  if (challenge.outcome === "fraud_proven" && loser.role === "worker") {
    if (challenge.attempt === worker.attempt || loser.address === worker.address)
      return "fraud was proven against the attempt (or worker) that delivered the model";
  }
  return null;
}
