import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import ort from "onnxruntime-node";
import { ModelBuilder, seededRandom } from "../autodiff/index.ts";
import { loadModel } from "../onnx/index.ts";
import { CheckpointDir } from "./checkpoint-dir.ts";
import { readDataset } from "./data/dataset.ts";
import { TrainError } from "./errors.ts";
import { FIXTURE_MODELS, loadFixture } from "./fixtures.ts";
import { replaySegment, replayTranscript, replayWindow, transcriptRoot } from "./replay.ts";
import { type TrainEvent, train } from "./trainer.ts";

const scratch = mkdtempSync(join(tmpdir(), "veritrain-train-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function rejectsWith(code: TrainError["code"], check?: (e: TrainError) => void) {
  return (error: unknown) => {
    assert.ok(error instanceof TrainError, `expected a TrainError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    check?.(error);
    return true;
  };
}

describe("accuracy against PyTorch on the same models, data, optimizer and schedule", () => {
  for (const name of FIXTURE_MODELS) {
    it(`${name}: final validation accuracy within 2 percentage points`, async () => {
      const fixture = loadFixture(name);
      const result = await train(fixture);
      const ours = result.metrics.epochs.at(-1)!.val_accuracy!;
      const torch = fixture.reference.final_val_accuracy;
      assert.equal(result.metrics.total_steps, fixture.reference.steps);
      assert.ok(Math.abs(ours - torch) <= 0.02, `${name}: ours ${ours}, PyTorch ${torch}`);
      // Same batches, same initial weights: the losses follow PyTorch's epoch by epoch too.
      result.metrics.epochs.forEach((epoch, i) => {
        const expected = fixture.reference.epochs[i]!;
        const close = (a: number, b: number) => Math.abs(a - b) <= 1e-3 * Math.max(1, b);
        assert.ok(close(epoch.train_loss, expected.train_loss), `epoch ${i} train loss`);
        assert.ok(close(epoch.val_loss!, expected.val_loss), `epoch ${i} validation loss`);
      });
    });
  }
});

describe("determinism and resume, bit for bit", () => {
  const cnn = loadFixture("cnn");
  const spec = { ...cnn.spec, epochs: undefined, max_steps: 60, checkpoint_every: 20 };

  it("two runs give identical checkpoint hashes", async () => {
    const one = await train({ ...cnn, spec });
    const two = await train({ ...cnn, spec });
    assert.deepEqual(
      one.checkpoints.map((c) => c.step),
      [0, 20, 40, 60],
    );
    assert.deepEqual(
      one.checkpoints.map((c) => c.sha256),
      two.checkpoints.map((c) => c.sha256),
    );
    assert.equal(one.merkleRoot, two.merkleRoot);
    assert.deepEqual(one.model, two.model);
  });

  it("a run stopped at a checkpoint and resumed ends identical to one that never stopped", async () => {
    const uninterrupted = await train({ ...cnn, spec, checkpointDir: join(scratch, "straight") });
    const dir = join(scratch, "stopped");
    const controller = new AbortController();
    const stopAt40 = (event: TrainEvent) => {
      if (event.type === "checkpoint" && event.record.step === 40) controller.abort();
    };
    await assert.rejects(
      train({ ...cnn, spec, checkpointDir: dir, signal: controller.signal, onEvent: stopAt40 }),
      rejectsWith("ABORTED", (e) => assert.equal(e.step, 40)),
    );
    assert.equal(CheckpointDir.open(dir).manifest.complete, false);
    const resumed = await train({ ...cnn, spec, checkpointDir: dir, resume: { dir } });
    assert.equal(resumed.metrics.start_step, 40);
    assert.equal(resumed.finalSha256, uninterrupted.finalSha256);
    assert.equal(resumed.merkleRoot, uninterrupted.merkleRoot);
    // The metrics cover the whole run, identical except for timings.
    const withoutTimings = (epochs: typeof resumed.metrics.epochs) =>
      epochs.map(({ steps_per_second: _, ...e }) => e);
    assert.deepEqual(resumed.metrics.steps, uninterrupted.metrics.steps);
    assert.deepEqual(withoutTimings(resumed.metrics.epochs), withoutTimings(uninterrupted.metrics.epochs));
    const manifest = CheckpointDir.open(dir).manifest;
    assert.equal(manifest.complete, true);
    assert.equal(manifest.merkle_root, uninterrupted.merkleRoot);

    // Resuming from an earlier checkpoint into a new directory gives the same end again.
    const fromEarly = await train({
      ...cnn,
      spec,
      checkpointDir: join(scratch, "early"),
      resume: { dir, step: 20 },
    });
    assert.equal(fromEarly.finalSha256, uninterrupted.finalSha256);
    assert.equal(fromEarly.merkleRoot, uninterrupted.merkleRoot);

    // Without a directory of its own, a resumed run still reports the whole run's leaves.
    const inMemory = await train({ ...cnn, spec, resume: { dir, step: 40 } });
    assert.equal(inMemory.merkleRoot, uninterrupted.merkleRoot);
  });

  it("a verifier's replay of a segment reproduces the committed checkpoint", async () => {
    const dir = join(scratch, "straight");
    const store = CheckpointDir.open(dir);
    const start = store.read(20);
    const replay = await replaySegment({ ...cnn, spec, from: start.bytes, toStep: 40 });
    assert.equal(replay.sha256, store.read(40).record.sha256);
    assert.equal(replay.losses.length, 20);
  });

  describe("a verifier's strided transcript", () => {
    const straight = () => CheckpointDir.open(join(scratch, "straight"));
    const transcript = (stride: number, fromStep = 0, toStep = 60) =>
      replayTranscript({ ...cnn, spec, from: straight().read(fromStep).bytes, fromStep, toStep, stride });

    it("with stride 1 hashes the state after every step, landing on each checkpoint", async () => {
      const everyStep = await transcript(1);
      assert.equal(everyStep.leaves.length, 60);
      assert.equal(new Set(everyStep.leaves).size, 60);
      for (const step of [20, 40, 60]) {
        assert.equal(everyStep.leaves[step - 1], straight().read(step).record.sha256, `step ${step}`);
      }
      assert.equal(everyStep.sha256, everyStep.leaves.at(-1));
      // A transcript of a later segment starts where this one's state was.
      const later = await transcript(1, 20, 40);
      assert.deepEqual(later.leaves, everyStep.leaves.slice(20, 40));
      assert.notEqual(later.root, everyStep.root);
    });

    it("leaves are the checkpoints a run writing one every `stride` steps commits", async () => {
      // Stride 1 against a run checkpointing every step, one step per run: the per-step reference.
      for (const stride of [20, 7, 1]) {
        const strided = await transcript(stride);
        const written = await train({ ...cnn, spec: { ...spec, checkpoint_every: stride } });
        assert.deepEqual(
          strided.leaves,
          written.checkpoints.slice(1).map((c) => c.sha256),
          `stride ${stride}`,
        );
        assert.equal(strided.root, transcriptRoot(strided.leaves));
      }
    });

    it("with a stride longer than the segment has the end state as its one leaf", async () => {
      const long = await transcript(100, 20, 40);
      assert.deepEqual(long.leaves, [straight().read(40).record.sha256]);
      assert.equal(long.sha256, long.leaves[0]);
    });

    it("a dispute's window replays the steps between two leaves one by one", async () => {
      const everyStep = await transcript(1, 20, 60);
      // Segment 20-60 with stride 7 has windows 1-6.
      const windowOf = (window: number) =>
        replayWindow({
          ...cnn,
          spec,
          from: straight().read(20).bytes,
          fromStep: 20,
          toStep: 60,
          stride: 7,
          window,
        });
      // The first window starts at the segment's start checkpoint.
      assert.deepEqual(await windowOf(1), { first: 21, stepHashes: everyStep.leaves.slice(0, 7) });
      const middle = await windowOf(2);
      assert.deepEqual(middle, { first: 28, stepHashes: everyStep.leaves.slice(7, 14) });
      // The last window is cut short by the segment's end.
      const last = await windowOf(6);
      assert.deepEqual(last, { first: 56, stepHashes: everyStep.leaves.slice(35) });
      await assert.rejects(windowOf(7), rejectsWith("INVALID_SPEC"));
    });
  });

  it("refuses to resume another run's checkpoints", async () => {
    const other = { ...spec, seed: 99 };
    await assert.rejects(
      train({ ...cnn, spec: other, resume: { dir: join(scratch, "straight") } }),
      rejectsWith("CHECKPOINT_MISMATCH", (e) => assert.match(e.message, /spec differ/)),
    );
  });
});

describe("several steps per onnxruntime run", () => {
  const mlp = loadFixture("mlp");
  const withoutTimings = (result: Awaited<ReturnType<typeof train>>) => ({
    checkpoints: result.checkpoints,
    model: result.model,
    steps: result.metrics.steps,
    epochs: result.metrics.epochs.map(({ steps_per_second: _, ...e }) => e),
  });

  it("gives checkpoints, losses and metrics bit-identical to one step per run", async () => {
    // 45 batches per epoch: runs stop at checkpoints (every 20) and epoch ends alike.
    const spec = { ...mlp.spec, epochs: 2, checkpoint_every: 20 };
    const one = await train({ ...mlp, spec, stepsPerRun: 1 });
    assert.deepEqual(
      one.checkpoints.map((c) => c.step),
      [0, 20, 40, 60, 80, 90],
    );
    // 4 divides the interval, 7 does not, the default runs whole stretches.
    for (const stepsPerRun of [4, 7, undefined]) {
      const other = await train({ ...mlp, spec, ...(stepsPerRun ? { stepsPerRun } : {}) });
      assert.deepEqual(withoutTimings(other), withoutTimings(one), `steps per run ${stepsPerRun}`);
    }
  });

  it("runs an epoch's partial last batch on its own, with the same result", async () => {
    // 1440 samples in batches of 50: 28 full batches and one of 40 per epoch.
    const spec = { ...mlp.spec, epochs: 2, batch_size: 50, checkpoint_every: 25 };
    const one = await train({ ...mlp, spec, stepsPerRun: 1 });
    const many = await train({ ...mlp, spec });
    assert.equal(one.metrics.total_steps, 58);
    assert.deepEqual(withoutTimings(many), withoutTimings(one));
  });

  it("stops a diverging run at the same step, and a replay agrees at any steps per run", async () => {
    const spec = { ...mlp.spec, optimizer: { type: "sgd", lr: 1e12 }, schedule: { type: "constant" } };
    const stepOf = async (stepsPerRun: number) => {
      const error = await train({ ...mlp, spec, stepsPerRun }).catch((e: unknown) => e);
      assert.ok(error instanceof TrainError && error.code === "DIVERGED", String(error));
      return error.step;
    };
    const first = await stepOf(1);
    assert.ok(first !== undefined && first > 1, `diverged at ${first}`);
    assert.equal(await stepOf(16), first);

    const stable = { ...mlp.spec, epochs: 1, checkpoint_every: 30 };
    const dir = join(scratch, "mlp-runs");
    await train({ ...mlp, spec: stable, checkpointDir: dir });
    const store = CheckpointDir.open(dir);
    for (const stepsPerRun of [1, 4]) {
      const replay = await replaySegment({
        ...mlp,
        spec: stable,
        from: store.read(0).bytes,
        toStep: 30,
        stepsPerRun,
      });
      assert.equal(replay.sha256, store.read(30).record.sha256);
    }
  });
});

describe("output", () => {
  it("delivers the original graph with trained weights, loadable by onnxruntime", async () => {
    const mlp = loadFixture("mlp");
    const result = await train(mlp);
    const session = await ort.InferenceSession.create(result.model);
    const data = readDataset(mlp.dataset.bytes, mlp.dataset.fileName);
    const x = data.tensor("x_val")!;
    const y = data.tensor("y_val")!.data as BigInt64Array;
    const logits = (await session.run({ input: new ort.Tensor("float32", x.data as Float32Array, x.dims) }))
      .logits!;
    const values = logits.data as Float32Array;
    let correct = 0;
    for (let n = 0; n < y.length; n++) {
      const row = Array.from(values.subarray(n * 10, n * 10 + 10));
      if (row.indexOf(Math.max(...row)) === Number(y[n])) correct++;
    }
    assert.equal(correct / y.length, result.metrics.epochs.at(-1)!.val_accuracy);
    assert.equal(result.metrics.steps.length, result.metrics.total_steps);
    assert.ok(result.metrics.steps_per_second > 0);
  });
});

describe("frozen parameters", () => {
  it("keeps frozen initializers at their exported values and trains the rest", async () => {
    const mlp = loadFixture("mlp");
    const spec = { ...mlp.spec, epochs: 1, frozen: ["net.0.weight", "net.0.bias"] };
    const result = await train({ ...mlp, spec });
    const before = loadModel(mlp.model).initializers;
    const after = loadModel(result.model).initializers;
    assert.deepEqual(after.get("net.0.weight")!.data, before.get("net.0.weight")!.data);
    assert.deepEqual(after.get("net.0.bias")!.data, before.get("net.0.bias")!.data);
    assert.notDeepEqual(after.get("net.2.weight")!.data, before.get("net.2.weight")!.data);
    await assert.rejects(
      train({ ...mlp, spec: { ...spec, frozen: ["net.9.weight"] } }),
      rejectsWith("INVALID_SPEC", (e) => assert.match(e.message, /net.9.weight is not an initializer/)),
    );
  });
});

describe("bad input is refused before training", () => {
  it("reports a shape mismatch by tensor name with both shapes", async () => {
    const cnn = loadFixture("cnn");
    const mlp = loadFixture("mlp");
    await assert.rejects(
      train({ ...cnn, dataset: mlp.dataset, spec: { ...cnn.spec, validation: undefined } }),
      rejectsWith("DATA_MODEL_MISMATCH", (e) => {
        assert.deepEqual(e.issues, [
          {
            path: "x_train",
            message: "shape [1440, 64] does not fit model input image of shape [batch, 1, 8, 8]",
          },
        ]);
      }),
    );
  });

  it("reports unknown tensors and inputs, listing what exists", async () => {
    const mlp = loadFixture("mlp");
    await assert.rejects(
      train({ ...mlp, spec: { ...mlp.spec, inputs: { pixels: "x_train" }, target: "labels" } }),
      rejectsWith("DATA_MODEL_MISMATCH", (e) => {
        const text = e.issues.map((i) => `${i.path}: ${i.message}`);
        assert.ok(
          text.includes("inputs.pixels: the model has no input pixels; its inputs: input"),
          text.join("\n"),
        );
        assert.ok(text.some((t) => t.startsWith("labels: target: the dataset has no such tensor; it has")));
        assert.ok(text.includes("inputs.input: model input input is fed by no dataset tensor"));
      }),
    );
  });

  it("trains from CSV columns, and reports class targets outside the model's classes", async () => {
    const mlp = loadFixture("mlp");
    const digits = readDataset(mlp.dataset.bytes, mlp.dataset.fileName);
    const x = digits.tensor("x_train")!.data as Float32Array;
    const y = digits.tensor("y_train")!.data as BigInt64Array;
    const csv = (labelShift: number) => {
      const header = [...Array.from({ length: 64 }, (_, i) => `px${i}`), "label"].join(",");
      const rows = Array.from({ length: 64 }, (_, n) =>
        [...x.subarray(n * 64, n * 64 + 64), Number(y[n]) + labelShift].join(","),
      );
      return { bytes: new TextEncoder().encode([header, ...rows].join("\n")), fileName: "digits.csv" };
    };
    const spec = {
      ...mlp.spec,
      inputs: { input: "px*" },
      target: "label",
      validation: { fraction: 0.25 },
      epochs: 1,
    };
    const result = await train({ ...mlp, dataset: csv(0), spec });
    assert.equal(result.metrics.total_steps, 2);
    assert.notEqual(result.metrics.epochs[0]!.val_accuracy, null);
    await assert.rejects(
      train({ ...mlp, dataset: csv(3), spec }),
      rejectsWith("DATA_MODEL_MISMATCH", (e) =>
        assert.match(e.message, /label: sample \d+ has class 1[0-2], outside \[0, 9\]/),
      ),
    );
  });

  it("refuses a model with operators outside the gradient table, naming types and nodes", async () => {
    const mlp = loadFixture("mlp");
    const builder = new ModelBuilder();
    const x = builder.input("input", "float32", ["batch", 64]);
    const w = builder.random("w", "float32", [64, 10], seededRandom(1));
    // Det (matrix determinant) has no gradient rule; it stands for any operator outside the table.
    const logits = builder.op("Det", [builder.op("MatMul", [x, w])]);
    builder.output(logits, "float32", ["batch", 10]);
    await assert.rejects(
      train({ ...mlp, model: builder.bytes(), spec: { ...mlp.spec, output: logits } }),
      rejectsWith("UNSUPPORTED_MODEL", (e) =>
        assert.deepEqual(e.issues, [{ path: "Det", message: "nodes /Det_1" }]),
      ),
    );
  });

  it("reports an invalid spec with paths", async () => {
    const mlp = loadFixture("mlp");
    await assert.rejects(
      train({ ...mlp, spec: { ...mlp.spec, batch_size: "32" } }),
      rejectsWith("INVALID_SPEC", (e) => assert.equal(e.issues[0]?.path, "/batch_size")),
    );
  });

  it("stops a diverging run with the step it happened at and the node whose values grew without bound", async () => {
    const mlp = loadFixture("mlp");
    const spec = { ...mlp.spec, optimizer: { type: "sgd", lr: 1e12 }, schedule: { type: "constant" } };
    for (const stepsPerRun of [1, 16]) {
      await assert.rejects(
        train({ ...mlp, spec, stepsPerRun }),
        rejectsWith("DIVERGED", (e) => {
          // Step 3 is the run's third: the diagnosis runs steps 1 and 2 again before tracing it.
          assert.equal(e.step, 3);
          assert.match(
            e.message,
            /at step 3: node \/net\/net\.2\/Gemm \(Gemm\) is the first to output an infinity/,
          );
          assert.match(e.message, /values grew without bound; lower the learning rate/);
          assert.deepEqual(e.issues, [{ path: "/net/net.2/Gemm", message: "first to output an infinity" }]);
        }),
      );
    }
  });

  it("names the operator whose domain the data leave, and does not blame the learning rate", async () => {
    // log(x) of the digits' pixels (scaled to [0, 1]), many of them 0: -inf at the first step.
    const mlp = loadFixture("mlp");
    const random = seededRandom(2);
    const m = new ModelBuilder(17);
    const x = m.input("input", "float32", ["batch", 64]);
    const logits = m.op("Gemm", [m.op("Log", [x]), m.random("w", "float32", [10, 64], random)], {
      transB: 1,
    });
    m.output(logits, "float32");
    await assert.rejects(
      train({ ...mlp, model: m.bytes(), spec: { ...mlp.spec, output: logits } }),
      rejectsWith("DIVERGED", (e) => {
        assert.equal(e.step, 1);
        assert.match(
          e.message,
          /node \/Log_0 \(Log\) is the first to output an infinity; its inputs stay within 1\.00/,
        );
        assert.match(e.message, /outside its domain/);
        assert.doesNotMatch(e.message, /learning rate/);
      }),
    );
  });
});

it("fixture files stay small enough to commit", () => {
  for (const name of FIXTURE_MODELS) {
    const fixture = loadFixture(name);
    assert.ok(fixture.dataset.bytes.byteLength < 2_000_000);
    assert.ok(readFileSync(new URL(`../fixtures/${name}.onnx`, import.meta.url)).byteLength < 2_000_000);
  }
});
