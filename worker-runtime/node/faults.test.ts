// What each fault mode makes a node produce, and when `--fault` is refused.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { decodeCheckpoint } from "../../protocol/checkpoint.ts";
import { sha256Hex } from "../../protocol/signed-messages.ts";
import { ModelBuilder, seededRandom } from "../autodiff/index.ts";
import { loadModel } from "../onnx/index.ts";
import { loadFixture } from "../train/fixtures.ts";
import { replaySegment } from "../train/replay.ts";
import { initialCheckpoint, train } from "../train/trainer.ts";
import { NodeError } from "./errors.ts";
import { type CheckpointInFlight, FAULTS, faultFor, type TrainingJob, type WorkerFault } from "./faults.ts";
import { swapOperator } from "./swap-operator.ts";

const ALLOWED = { VERITRAIN_ALLOW_FAULTS: "1" };
const refused = (error: unknown) => error instanceof NodeError && error.code === "FAULTS_REFUSED";

describe("--fault", () => {
  it("is refused without VERITRAIN_ALLOW_FAULTS=1", () => {
    assert.throws(() => faultFor("lazy", "verifier", {}), refused);
  });
  it("is refused under NODE_ENV=production even when allowed", () => {
    assert.throws(() => faultFor("lazy", "verifier", { ...ALLOWED, NODE_ENV: "production" }), refused);
  });
  it("is refused for an unknown mode or another role's mode", () => {
    assert.throws(() => faultFor("toString", "worker", ALLOWED), refused);
    assert.throws(() => faultFor("lazy", "worker", ALLOWED), refused);
  });
  it("gives each mode's entry when allowed", () => {
    assert.equal(faultFor("grief", "verifier", ALLOWED), FAULTS.grief);
    assert.equal(faultFor("silent", "worker", ALLOWED), FAULTS.silent);
  });
});

describe("worker faults", () => {
  const mlp = loadFixture("mlp");
  const spec = { ...mlp.spec, epochs: undefined, max_steps: 8, checkpoint_every: 4 };
  const dir = mkdtempSync(join(tmpdir(), "vt-faults-"));
  const checkpoints: Array<{ step: number; bytes: Uint8Array }> = [];
  before(async () => {
    const result = await train({ model: mlp.model, dataset: mlp.dataset, spec, checkpointDir: dir });
    for (const { step } of result.checkpoints) {
      checkpoints.push({
        step,
        bytes: readFileSync(join(dir, `step-${String(step).padStart(9, "0")}.ckpt`)),
      });
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The bytes a worker with this fault uploads for each checkpoint of the run. */
  async function uploads(fault: WorkerFault): Promise<Uint8Array[]> {
    const sent: Uint8Array[] = [];
    for (const [index, { step, bytes }] of checkpoints.entries()) {
      const previous = index === 0 ? null : { step: checkpoints[index - 1]!.step, bytes: sent[index - 1]! };
      const inFlight: CheckpointInFlight = {
        step,
        bytes,
        previous,
        model: mlp.model,
        dataset: mlp.dataset,
        spec,
      };
      sent.push(fault.checkpoint ? await fault.checkpoint(inFlight) : bytes);
    }
    return sent;
  }
  /** The checkpoint bytes of a run of `job` on the task's data, as a worker trained them. */
  async function trainedBytes(job: TrainingJob): Promise<Uint8Array[]> {
    const jobDir = mkdtempSync(join(tmpdir(), "vt-faults-job-"));
    try {
      const result = await train({
        model: job.model,
        dataset: mlp.dataset,
        spec: job.spec,
        checkpointDir: jobDir,
      });
      return result.checkpoints.map(({ step }) =>
        readFileSync(join(jobDir, `step-${String(step).padStart(9, "0")}.ckpt`)),
      );
    } finally {
      rmSync(jobDir, { recursive: true, force: true });
    }
  }
  /** An honest verifier's replay of the task's segment (fromStep, toStep] from `from`. */
  const replayFrom = (from: Uint8Array, fromStep: number, toStep: number) =>
    replaySegment({ model: mlp.model, dataset: mlp.dataset, spec, from, fromStep, toStep });
  const changed = (sent: Uint8Array[]) =>
    sent.flatMap((bytes, i) => (sha256Hex(bytes) === sha256Hex(checkpoints[i]!.bytes) ? [] : [i]));

  it("garbage-checkpoint uploads undecodable bytes for exactly one checkpoint", async () => {
    const sent = await uploads(FAULTS["garbage-checkpoint"]);
    assert.deepEqual(changed(sent), [1]);
    assert.throws(() => decodeCheckpoint(sent[1]!));
  });

  it("perturb-weights changes the weights of exactly one checkpoint, which still decodes at its step", async () => {
    const sent = await uploads(FAULTS["perturb-weights"]);
    assert.deepEqual(changed(sent), [1]);
    assert.equal(decodeCheckpoint(sent[1]!).step, checkpoints[1]!.step);
  });

  it("skip-steps labels the state after half a segment as its end", async () => {
    const sent = await uploads(FAULTS["skip-steps"]);
    assert.deepEqual(changed(sent), [1]);
    const half = await replaySegment({
      model: mlp.model,
      dataset: mlp.dataset,
      spec,
      from: checkpoints[0]!.bytes,
      toStep: 2,
    });
    const forged = decodeCheckpoint(sent[1]!);
    assert.equal(forged.step, 4);
    assert.deepEqual(forged.params, half.state.params);
  });

  it("subset-data trains half the batches of one segment, committing the whole segment's step and data position", async () => {
    const sent = await uploads(FAULTS["subset-data"]);
    assert.deepEqual(changed(sent), [1]);
    const forged = decodeCheckpoint(sent[1]!);
    const honest = decodeCheckpoint(checkpoints[1]!.bytes);
    assert.equal(forged.step, honest.step);
    assert.deepEqual(forged.position, honest.position);
    const replay = await replayFrom(sent[0]!, 0, 4);
    assert.equal(replay.sha256, sha256Hex(checkpoints[1]!.bytes));
    assert.notEqual(replay.sha256, sha256Hex(sent[1]!));
  });

  it("swap-operator trains with a Gemm on float16-rounded inputs: step 0 is honest, a replay of any segment disagrees", async () => {
    const { job } = FAULTS["swap-operator"];
    const cheat = await trainedBytes(job({ model: mlp.model, spec }));
    assert.equal(sha256Hex(cheat[0]!), sha256Hex(checkpoints[0]!.bytes));
    for (const [index, bytes] of cheat.entries()) {
      if (index === 0) continue;
      const replay = await replayFrom(
        cheat[index - 1]!,
        checkpoints[index - 1]!.step,
        checkpoints[index]!.step,
      );
      assert.notEqual(replay.sha256, sha256Hex(bytes), `segment ending at checkpoint ${index}`);
    }
  });

  it("swap-operator computes every Gelu by its tanh approximation", () => {
    const m = new ModelBuilder(20);
    const x = m.input("x", "float32", ["batch", 4]);
    m.output(
      m.op("Gelu", [m.op("MatMul", [x, m.random("w", "float32", [4, 4], seededRandom(1), 0.5)])]),
      "float32",
      ["batch", 4],
    );
    const swapped = loadModel(swapOperator(m.bytes()));
    const gelu = swapped.nodes.find((n) => n.opType === "Gelu")!;
    assert.equal(gelu.attrs.string("approximate", "none"), "tanh");
    assert.deepEqual(
      swapped.nodes.map((n) => n.opType),
      ["MatMul", "Gelu"],
    );
  });

  it("replay-other-job commits another run's checkpoints: the gateway refuses its leaf 0, and the task's leaf 0 does not lead to its next", async () => {
    const { job } = FAULTS["replay-other-job"];
    const other = job({ model: mlp.model, spec });
    assert.equal(other.model, mlp.model);
    const cheat = await trainedBytes(other);
    // What the gateway compares an uploaded step-0 checkpoint with (training-evidence.ts).
    const platformLeaf0 = await initialCheckpoint(mlp.model, mlp.dataset, spec);
    assert.equal(sha256Hex(platformLeaf0), sha256Hex(checkpoints[0]!.bytes));
    assert.notEqual(sha256Hex(cheat[0]!), sha256Hex(platformLeaf0));
    const replay = await replayFrom(platformLeaf0, 0, 4);
    assert.notEqual(replay.sha256, sha256Hex(cheat[1]!));
  });

  it("swap-model delivers the uploaded model instead of the trained one", () => {
    const trained = new Uint8Array([1, 2, 3]);
    assert.equal(FAULTS["swap-model"].model(trained, mlp.model), mlp.model);
  });

  it("silent and commit-and-vanish walk away after the claim and after the commit", () => {
    assert.equal(FAULTS.silent.vanish, "after-claim");
    assert.equal(FAULTS["commit-and-vanish"].vanish, "after-commit");
  });
});
