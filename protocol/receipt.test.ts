import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { before, test } from "node:test";
import { Keyring } from "@polkadot/keyring";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import {
  checkpointRoot,
  type DisputeAnchor,
  profileHash,
  type Receipt,
  type ReceiptBody,
  type ReceiptChallenge,
  type ReceiptVerification,
  specHash,
  verifyReceipt,
} from "./receipt.ts";
import { commitmentMessage, receiptMessage, verdictMessage } from "./signed-messages.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const model = new TextEncoder().encode("trained model bytes");

let platform: ReturnType<typeof generateKeyPairSync>;
let platformPublicHex: string;
let receipt: Receipt;

function signBody(body: ReceiptBody): Receipt {
  return { body, signature: hex(sign(null, receiptMessage(body), platform.privateKey)) };
}

before(async () => {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  const worker = keyring.addFromUri("//Bob");
  const verifier = keyring.addFromUri("//Charlie");
  platform = generateKeyPairSync("ed25519");
  const jwk = platform.publicKey.export({ format: "jwk" });
  platformPublicHex = Buffer.from(String(jwk.x), "base64url").toString("hex");

  const leaves = [sha("ckpt 0"), sha("ckpt 10"), sha("ckpt 20")];
  const root = checkpointRoot(leaves);
  const spec = { batch_size: 32, optimizer: { type: "sgd", lr: 0.1 } };
  const task = "task_1";
  const modelSha = createHash("sha256").update(model).digest("hex");
  const audit = { from_step: 10, to_step: 20, leaf_from: leaves[1]!, leaf_to: leaves[2]!, agrees: true };
  const verdict = {
    taskId: task,
    checkpointRoot: root,
    fromStep: 10,
    fromSha256: leaves[1]!,
    toStep: 20,
    toSha256: leaves[2]!,
    agrees: true,
  };
  const body: ReceiptBody = {
    version: 1,
    job_id: "job_1",
    task_id: task,
    issued_at: "2026-11-26T00:00:00.000Z",
    model_sha256: sha("input model"),
    dataset_sha256: sha("dataset"),
    spec_sha256: specHash(spec),
    spec,
    profile_blake2_256: profileHash(PROFILE),
    verification_level: "basic",
    result: { model_sha256: modelSha, metrics: { final_loss: 0.1 } },
    checkpoints: { interval: 10, steps: [0, 10, 20], leaves, root },
    worker: {
      address: worker.address,
      attempt: 0,
      commitment_signature: hex(
        worker.sign(
          commitmentMessage({ taskId: task, checkpointRoot: root, leafCount: 3, modelSha256: modelSha }),
        ),
      ),
    },
    audits: [
      { verifier: verifier.address, ...audit, signature: hex(verifier.sign(verdictMessage(verdict))) },
    ],
    challenges: [],
    chain: { genesis_hash: `0x${"00".repeat(32)}`, task_id: "1", anchors: [] },
    platform: { public_key: platformPublicHex },
  };
  receipt = signBody(body);
});

function failed(r: Receipt, bytes = model, platformPublicKey = platformPublicHex): string[] {
  const result = verifyReceipt(r, bytes, { platformPublicKey });
  return result.checks.filter((c) => !c.ok).map((c) => c.name);
}

/** A determinism profile as worker-runtime/train/profile.ts describes a machine. */
const PROFILE = {
  onnxruntime: "1.30.0",
  execution_provider: "cpu",
  intra_op_threads: 1,
  cpu_features: ["avx", "avx2", "fma"],
};

test("a well-formed receipt verifies with the model it describes", () => {
  const result = verifyReceipt(receipt, model, { platformPublicKey: platformPublicHex });
  assert.equal(result.valid, true, JSON.stringify(result.checks));
  assert.ok(result.checks.some((c) => c.name === "audit_0" && c.ok));
});

test("a different model fails the model hash check only", () => {
  assert.deepEqual(failed(receipt, new TextEncoder().encode("other bytes")), ["model_hash"]);
});

test("editing any signed field breaks the platform signature", () => {
  const edited = structuredClone(receipt);
  edited.body.result.metrics.final_loss = 0.01;
  assert.deepEqual(failed(edited), ["platform_signature"]);
});

test("a receipt re-signed by another key fails against the pinned platform key", () => {
  const other = generateKeyPairSync("ed25519");
  const otherHex = Buffer.from(String(other.publicKey.export({ format: "jwk" }).x), "base64url").toString(
    "hex",
  );
  const body = { ...structuredClone(receipt.body), platform: { public_key: otherHex } };
  const forged = { body, signature: hex(sign(null, receiptMessage(body), other.privateKey)) };
  assert.deepEqual(failed(forged), ["platform_signature"]);
});

test("without a platform key nothing verifies: the key a receipt names is never trusted", () => {
  const other = generateKeyPairSync("ed25519");
  const otherHex = Buffer.from(String(other.publicKey.export({ format: "jwk" }).x), "base64url").toString(
    "hex",
  );
  const body = { ...structuredClone(receipt.body), platform: { public_key: otherHex } };
  const forged = { body, signature: hex(sign(null, receiptMessage(body), other.privateKey)) };
  // As plain JavaScript would call it: no options, or no key in them.
  const unkeyed = verifyReceipt as (r: Receipt, bytes: Uint8Array, options?: object) => ReceiptVerification;
  for (const r of [forged, receipt]) {
    for (const result of [
      unkeyed(r, model),
      unkeyed(r, model, {}),
      unkeyed(r, model, { platformPublicKey: "" }),
    ]) {
      assert.equal(result.valid, false);
      const signature = result.checks.find((c) => c.name === "platform_signature");
      assert.equal(signature?.ok, false);
      assert.match(signature?.detail ?? "", /no platformPublicKey given.*GET \/v1\/receipt-keys/);
    }
  }
});

test("a swapped checkpoint leaf breaks the root, the worker commitment is checked against the root", () => {
  const body = structuredClone(receipt.body);
  body.checkpoints.leaves[0] = sha("forged");
  assert.deepEqual(failed(signBody(body)), ["checkpoint_root"]);

  const rerooted = structuredClone(receipt.body);
  rerooted.checkpoints.leaves[0] = sha("forged");
  rerooted.checkpoints.root = checkpointRoot(rerooted.checkpoints.leaves);
  // Verdicts are bound to the committed root too, so the audit no longer verifies either.
  assert.deepEqual(failed(signBody(rerooted)), ["worker_commitment", "audit_0"]);
});

test("without a worker signature only a commit on chain ruled delivered stands in for it", () => {
  const unsigned = structuredClone(receipt.body);
  unsigned.worker.commitment_signature = null;
  assert.deepEqual(failed(signBody(unsigned)), ["worker_commitment"]);
  const ruled = structuredClone(unsigned);
  const anchor = { block_number: 9, block_hash: sha("block"), extrinsic_hash: sha("extrinsic") };
  ruled.chain.anchors.push(
    { purpose: "checkpoints_committed", ...anchor },
    { purpose: "delivery_ruled", ...anchor },
  );
  assert.deepEqual(failed(signBody(ruled)), []);
});

test("an audit of uncommitted checkpoints, or with a forged verifier signature, fails", () => {
  const moved = structuredClone(receipt.body);
  moved.audits[0]!.leaf_to = sha("elsewhere");
  assert.deepEqual(failed(signBody(moved)), ["audit_0"]);

  const forged = structuredClone(receipt.body);
  forged.audits[0]!.signature = receipt.body.worker.commitment_signature!;
  assert.deepEqual(failed(signBody(forged)), ["audit_0"]);

  const none = structuredClone(receipt.body);
  none.audits = [];
  assert.deepEqual(failed(signBody(none)), ["audits_present"]);
});

test("a malformed receipt fails its checks instead of throwing", () => {
  const partial = structuredClone(receipt.body) as Partial<typeof receipt.body>;
  delete partial.audits;
  delete partial.checkpoints;
  const checks = verifyReceipt({ body: partial as typeof receipt.body, signature: "00" }, model, {
    platformPublicKey: platformPublicHex,
  }).checks;
  assert.deepEqual(
    checks.filter((c) => !c.ok).map((c) => c.name),
    ["platform_signature", "checkpoint_root", "worker_commitment", "audits_present"],
  );
});

test("checks the model against the last leaf's checkpoint when given it", () => {
  const notTheLastLeaf = new TextEncoder().encode("VTCKPT01 some other state");
  const result = verifyReceipt(receipt, model, {
    platformPublicKey: platformPublicHex,
    finalCheckpoint: notTheLastLeaf,
  });
  const check = result.checks.find((c) => c.name === "model_from_last_checkpoint");
  assert.equal(result.valid, false);
  assert.match(check?.detail ?? "", /last committed leaf/);
});

test("checks the run's determinism profile against one the user gives, and the recorded hash's form", () => {
  const options = { platformPublicKey: platformPublicHex };
  assert.equal(verifyReceipt(receipt, model, { ...options, profile: PROFILE }).valid, true);
  const otherThreads = verifyReceipt(receipt, model, {
    ...options,
    profile: { ...PROFILE, intra_op_threads: 4 },
  });
  assert.deepEqual(
    otherThreads.checks.filter((c) => !c.ok).map((c) => c.name),
    ["profile_hash"],
  );
  const malformed = { ...receipt, body: { ...receipt.body, profile_blake2_256: "not hex" } };
  assert.ok(failed(malformed, model).includes("profile_hash"));
});

/** A commitment dispute the worker of attempt 0 lost at the referee after `rounds` rounds. */
function provenFraud(rounds: number): ReceiptChallenge {
  const cheat = { role: "worker" as const, address: "5Cheat" };
  const anchor = (purpose: DisputeAnchor["purpose"], block: number): DisputeAnchor => ({
    purpose,
    block_number: block,
    event_index: 2,
    block_hash: `0x${"ab".repeat(32)}`,
    extrinsic_hash: null,
  });
  return {
    dispute_id: "7",
    kind: "commitment",
    attempt: 0,
    audit_index: 0,
    segment: { from_step: 0, to_step: 10 },
    challenger: { role: "verifier", address: "5Verifier" },
    defender: cheat,
    rounds,
    disputed_step: 3,
    disputed_operator: 12,
    outcome: "fraud_proven",
    loser: cheat,
    decided_by: "referee",
    anchors: [
      anchor("dispute_opened", 40),
      ...Array.from({ length: rounds }, (_, i) => anchor("dispute_round", 41 + i)),
      anchor("dispute_resolved", 41 + rounds),
    ],
  };
}

/** The receipt of a job re-run by attempt 1 after `challenges`, signed by the platform. */
function withChallenges(challenges: ReceiptChallenge[]): Receipt {
  const body = structuredClone(receipt.body);
  body.worker.attempt = 1;
  body.challenges = challenges;
  return signBody(body);
}

test("a receipt lists the disputes of a re-run job: fraud proven against a voided attempt verifies", () => {
  assert.deepEqual(failed(withChallenges([provenFraud(5)])), []);
  const tampered = withChallenges([provenFraud(5)]);
  tampered.body.challenges[0]!.outcome = "challenge_rejected";
  assert.deepEqual(failed(tampered), ["platform_signature", "challenges"], "the signature covers the list");
});

test("inconsistent disputes fail the challenges check even when the platform signed them", () => {
  const onDelivering = provenFraud(5);
  onDelivering.attempt = 1;
  const rounds = provenFraud(5);
  rounds.rounds = 3;
  const unresolvedAbort = { ...provenFraud(2), outcome: "aborted" as const };
  const wrongLoser = provenFraud(2);
  wrongLoser.loser = wrongLoser.challenger;
  const badAnchor = provenFraud(1);
  badAnchor.anchors[0]!.block_hash = "not a hash";
  for (const challenge of [onDelivering, rounds, unresolvedAbort, wrongLoser, badAnchor]) {
    assert.deepEqual(failed(withChallenges([challenge])), ["challenges"], JSON.stringify(challenge));
  }
});
