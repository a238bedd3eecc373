import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { merkleInclusionProof, verifyMerkleInclusion } from "../../protocol/merkle.ts";
import { encodeCheckpoint, type TrainingState } from "./checkpoint.ts";
import { CheckpointDir } from "./checkpoint-dir.ts";
import { TrainError } from "./errors.ts";
import { currentProfile, profileDifferences } from "./profile.ts";

const scratch = mkdtempSync(join(tmpdir(), "veritrain-ckpt-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const identity = { model_sha256: "m", dataset_sha256: "d", spec_sha256: "s", total_steps: 3 };
const stateAt = (step: number): TrainingState => ({
  step,
  position: { epoch: 0, batch: step, rngAtEpochStart: Uint32Array.of(1, 2, 3, 4) },
  params: new Map([["w", { dtype: "float32", dims: [2], data: Float32Array.of(step, -step) }]]),
  state: new Map(),
});

function writeRun(dir: string): CheckpointDir {
  const store = CheckpointDir.create(dir, identity, currentProfile());
  for (const step of [0, 2, 3]) {
    const newSteps = step === 0 ? [] : [{ step, loss: 1 / step, lr: 0.1 }];
    store.add(step, encodeCheckpoint(stateAt(step)), step === 3, null, { newSteps, epochs: [] });
  }
  return store;
}

describe("CheckpointDir", () => {
  it("records every checkpoint, the Merkle root over their hashes, and completion", () => {
    const dir = join(scratch, "run");
    writeRun(dir);
    const manifest = CheckpointDir.open(dir).manifest;
    assert.deepEqual(
      manifest.checkpoints.map((c) => [c.step, c.file]),
      [
        [0, "step-000000000.ckpt"],
        [2, "step-000000002.ckpt"],
        [3, "step-000000003.ckpt"],
      ],
    );
    assert.equal(manifest.complete, true);
    assert.equal(manifest.determinism_profile.intra_op_threads, 1);
    // Any checkpoint can be proven against the committed root, as verifiers do.
    const leaves = manifest.checkpoints.map((c) => Buffer.from(c.sha256, "hex"));
    const proof = merkleInclusionProof(leaves, 1);
    const root = Buffer.from(manifest.merkle_root, "hex");
    assert.ok(verifyMerkleInclusion({ leaf: leaves[1]!, index: 1, treeSize: 3, proof, root }));
    assert.equal(CheckpointDir.open(dir).read(2).state.step, 2);
    assert.deepEqual(CheckpointDir.open(dir).history(2).steps, [{ step: 2, loss: 0.5, lr: 0.1 }]);
    assert.equal(CheckpointDir.open(dir).read().state.step, 3);
  });

  it("refuses a checkpoint file whose bytes no longer match the manifest", () => {
    const dir = join(scratch, "tampered");
    writeRun(dir);
    const file = join(dir, "step-000000002.ckpt");
    const bytes = readFileSync(file);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(file, bytes);
    assert.throws(
      () => CheckpointDir.open(dir).read(2),
      (e: unknown) => e instanceof TrainError && e.code === "INVALID_CHECKPOINT" && /SHA-256/.test(e.message),
    );
    assert.throws(
      () => CheckpointDir.open(dir).read(1),
      (e: unknown) => e instanceof TrainError && /no checkpoint at step 1; it has: 0, 2, 3/.test(e.message),
    );
  });

  it("refuses a directory without a manifest", () => {
    assert.throws(
      () => CheckpointDir.open(join(scratch, "nothing")),
      (e: unknown) => e instanceof TrainError && e.code === "INVALID_CHECKPOINT",
    );
  });
});

describe("determinism profile", () => {
  it("names the settings that differ, ignoring the CPU model name", () => {
    const here = currentProfile();
    assert.deepEqual(profileDifferences(here, { ...here, cpu_model: "another" }), []);
    assert.deepEqual(profileDifferences({ ...here, onnxruntime: "1.0.0", cpu_features: ["avx2"] }, here), [
      `onnxruntime: "1.0.0" -> "${here.onnxruntime}"`,
      `cpu_features: ["avx2"] -> ${JSON.stringify(here.cpu_features)}`,
    ]);
  });
});
