// A verifier's answer to checkpoints no honest run produces, and its refusal of work of another
// determinism profile.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { denseMlp } from "../../bench/compute-bound.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../../protocol/checkpoint.ts";
import { TranscriptLayout } from "../../protocol/transcript.ts";
import { loadFixture } from "../train/fixtures.ts";
import { replayTranscript } from "../train/replay.ts";
import { train } from "../train/trainer.ts";
import { auditedSegment, replayForVerdict, UNREPLAYABLE_STATE } from "./audit-task.ts";
import { NodeError } from "./errors.ts";
import { determinismProfileHash, requireSameProfile } from "./profile-check.ts";

const mlp = loadFixture("mlp");
const spec = { ...mlp.spec, epochs: undefined, max_steps: 8, checkpoint_every: 4 };

describe("a verifier's replay", () => {
  const dir = mkdtempSync(join(tmpdir(), "vt-audit-"));
  let first: Uint8Array;
  let secondSha256: string;
  before(async () => {
    const result = await train({ model: mlp.model, dataset: mlp.dataset, spec, checkpointDir: dir });
    first = readFileSync(join(dir, "step-000000004.ckpt"));
    secondSha256 = result.checkpoints.find((c) => c.step === 8)!.sha256;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const segment = (from: Uint8Array) => ({
    model: mlp.model,
    dataset: mlp.dataset,
    spec,
    from,
    fromStep: 4,
    toStep: 8,
  });
  it("lands on the worker's checkpoint from an honest one, its transcript strided by the chain's rule", async () => {
    const { leaves: stepHashes } = await replayTranscript({ ...segment(first), stride: 1 });
    // Steps 5..8 with stride 1: a leaf after every step.
    const replay = await replayForVerdict(segment(first), Number(new TranscriptLayout(4n, 8n, 1n).stride));
    assert.equal(replay.sha256, secondSha256);
    assert.deepEqual(replay.leaves, stepHashes);
    assert.equal(replay.leaves?.at(-1), secondSha256);
    const capped = await replayForVerdict(segment(first), Number(new TranscriptLayout(4n, 8n, 16n).stride));
    assert.deepEqual(capped.leaves, [stepHashes[1], stepHashes[3]], "a 16-step stride is capped to 2 here");
  });

  it("disagrees, with a transcript of zero hashes, when the start checkpoint is undecodable", async () => {
    const garbage = new Uint8Array(first.length).map((_, i) => (i * 131 + 7) & 0xff);
    const replay = await replayForVerdict(segment(garbage), 2);
    assert.deepEqual(replay, {
      sha256: UNREPLAYABLE_STATE,
      leaves: [UNREPLAYABLE_STATE, UNREPLAYABLE_STATE],
    });
    assert.notEqual(replay.sha256, secondSha256);
  });

  it("disagrees when the start checkpoint claims another step than its place in the commitment", async () => {
    const moved = encodeCheckpoint({ ...decodeCheckpoint(first), step: 3 });
    const replay = await replayForVerdict(segment(moved), null);
    assert.deepEqual(replay, { sha256: UNREPLAYABLE_STATE, leaves: null });
  });
});

describe("determinism profiles", () => {
  const work = { task_id: "t1", model_sha256: "", dataset_sha256: "", dataset_file_name: "d.npz", spec: {} };
  it("accepts work of its own profile or of none yet", () => {
    requireSameProfile({ ...work, profile_hash: determinismProfileHash() });
    requireSameProfile({ ...work, profile_hash: null });
    requireSameProfile(work);
  });
  it("refuses work made under another profile with PROFILE_MISMATCH", () => {
    assert.throws(
      () => requireSameProfile({ ...work, profile_hash: "ab".repeat(32) }),
      (error: unknown) => error instanceof NodeError && error.code === "PROFILE_MISMATCH",
    );
  });
});

describe("a verifier's replay of a multi-thread worker's segment", () => {
  // X[8, 300]·W[128, 300]ᵀ: a GEMM whose bits depend on the thread count (docs/training.md).
  const wide = denseMlp({ widths: [300, 128, 4], batch: 8, samples: 64 });
  const wideSpec = { ...wide.spec, epochs: undefined, max_steps: 4, checkpoint_every: 2 };
  const dir = mkdtempSync(join(tmpdir(), "vt-audit-threads-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("replays with the task's threads, landing where the worker's two threads did", async () => {
    const result = await train({ ...wide, spec: wideSpec, threads: 2, checkpointDir: dir });
    const audit = {
      spec: wideSpec,
      dataset_file_name: wide.dataset.fileName,
      from: { step: 2, leaf_index: 1, sha256: "", proof: [] },
      to: { step: 4, leaf_index: 2, sha256: "", proof: [] },
    };
    const bytes = {
      model: wide.model,
      dataset: wide.dataset.bytes,
      from: readFileSync(join(dir, "step-000000002.ckpt")),
    };
    const worker = result.checkpoints.find((c) => c.step === 4)!.sha256;
    const twoThreads = await replayForVerdict(auditedSegment(audit, bytes, 2), null);
    assert.equal(twoThreads.sha256, worker);
    // The same segment on one thread ends elsewhere: a verifier replaying with its default would
    // disagree with honest work.
    const oneThread = await replayForVerdict(auditedSegment(audit, bytes, 1), null);
    assert.notEqual(oneThread.sha256, worker);
  });
});
