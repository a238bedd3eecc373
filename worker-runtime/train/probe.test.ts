import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ModelBuilder, seededRandom } from "../autodiff/index.ts";
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import { readDataset } from "./data/dataset.ts";
import { TrainError } from "./errors.ts";
import { loadFixture, loadZooFixture } from "./fixtures.ts";
import { type DatasetShapes, probeTrainingStep, type ValueRange } from "./probe.ts";
import { train } from "./trainer.ts";

const scratch = mkdtempSync(join(tmpdir(), "veritrain-probe-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The dataset as upload inspection describes it: names, dtypes and shapes, no values. */
function shapesOf(dataset: { bytes: Uint8Array; fileName: string }): DatasetShapes {
  const read = readDataset(dataset.bytes, dataset.fileName);
  return {
    format: read.format,
    tensors: read.names.map((name) => {
      const t = read.tensor(name)!;
      return { name, dtype: t.dtype, shape: t.dims };
    }),
  };
}

function rejection(code: TrainError["code"], check: (e: TrainError) => void) {
  return (error: unknown) => {
    assert.ok(error instanceof TrainError, `expected a TrainError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    check(error);
    return true;
  };
}

/** Tokens [batch, 8, 8] -> Linear -> h[:, 0] + h[:, -1] -> Linear: the pattern that used to crash mid-training. */
function firstAndLastToken(): { bytes: Uint8Array; output: string } {
  const m = new ModelBuilder();
  const random = seededRandom(3);
  const h = m.op("MatMul", [
    m.input("tokens", "float32", ["batch", 8, 8]),
    m.random("w", "float32", [8, 16], random, 0.3),
  ]);
  const at = (i: number) => m.op("Gather", [h, m.constant(tensorFromNumbers("int64", [], [i]))], { axis: 1 });
  const pooled = m.op("Add", [at(0), at(-1)]);
  const output = m.op("MatMul", [pooled, m.random("head", "float32", [16, 8], random, 0.3)]);
  m.output(output, "float32", ["batch", 8]);
  return { bytes: m.bytes(), output };
}

/** An MLP whose Mod on floats lacks fmod=1: shape inference and gradients accept it, onnxruntime does not. */
function failingMod(): { bytes: Uint8Array; output: string } {
  const m = new ModelBuilder();
  const x = m.input("input", "float32", ["batch", 64]);
  const h = m.op("MatMul", [x, m.random("w", "float32", [64, 10], seededRandom(1))]);
  const remainder = m.op("Mod", [x, m.constant(tensorFromNumbers("float32", [], [3]))]);
  const output = m.op("Add", [h, m.op("ReduceSum", [remainder, m.ints([1])], { keepdims: 1 })]);
  m.output(output, "float32", ["batch", 10]);
  return { bytes: m.bytes(), output };
}

/** Linear -> BatchNorm1d on [batch, 16] (no spatial positions) -> Linear, over the MLP fixture's 64 features. */
function batchNormMlp(): { bytes: Uint8Array; output: string } {
  const m = new ModelBuilder(17);
  const random = seededRandom(5);
  const h = m.op("MatMul", [
    m.input("input", "float32", ["batch", 64]),
    m.random("fc1", "float32", [64, 16], random, 0.2),
  ]);
  const ones = tensorFromNumbers("float32", [16], new Array(16).fill(1));
  const zeros = tensorFromNumbers("float32", [16], new Array(16).fill(0));
  m.initializer("bn.weight", ones);
  m.initializer("bn.bias", zeros);
  m.initializer("bn.running_mean", zeros);
  m.initializer("bn.running_var", ones);
  const normalized = m.op(
    "BatchNormalization",
    [h, "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
    {
      epsilon: { float: 1e-5 },
      momentum: { float: 0.9 },
    },
  );
  const output = m.op("MatMul", [
    m.op("Relu", [normalized]),
    m.random("fc2", "float32", [16, 10], random, 0.2),
  ]);
  m.output(output, "float32", ["batch", 10]);
  return { bytes: m.bytes(), output };
}

describe("probeTrainingStep: the acceptance check from dataset shapes", () => {
  it("accepts the fixture models with their specs and datasets", async () => {
    for (const name of ["mlp", "cnn", "attention"] as const) {
      const fixture = loadFixture(name);
      await probeTrainingStep(fixture.model, fixture.spec, shapesOf(fixture.dataset));
    }
  });

  it("checks the dataset against the model as training does, CSV column lists included", async () => {
    const mlp = loadFixture("mlp");
    const columns = [...Array.from({ length: 64 }, (_, i) => `px${i}`), "label"];
    const csv: DatasetShapes = {
      format: "csv",
      tensors: columns.map((name) => ({ name, dtype: "float64", shape: [100] })),
    };
    const spec = { ...mlp.spec, inputs: { input: "px*" }, target: "label", validation: { fraction: 0.25 } };
    await probeTrainingStep(mlp.model, spec, csv);
    await assert.rejects(
      probeTrainingStep(mlp.model, mlp.spec, shapesOf(loadFixture("cnn").dataset)),
      rejection("DATA_MODEL_MISMATCH", (e) => assert.match(e.message, /x_train: shape \[1, 1, 8, 8\]/)),
    );
  });

  it("refuses a model whose step fails in onnxruntime, naming the node, and so does train()", async () => {
    const mlp = loadFixture("mlp");
    const { bytes, output } = failingMod();
    const spec = { ...mlp.spec, output };
    const names = (e: TrainError) => {
      assert.match(e.message, /the training step fails at node \/Mod_\d+ \(Mod\): fmod was false/);
      assert.match(e.issues[0]!.path, /^\/Mod_\d+$/);
    };
    await assert.rejects(
      probeTrainingStep(bytes, spec, shapesOf(mlp.dataset)),
      rejection("UNSUPPORTED_MODEL", names),
    );
    const checkpointDir = join(scratch, "never");
    await assert.rejects(
      train({ ...mlp, model: bytes, spec, checkpointDir }),
      rejection("UNSUPPORTED_MODEL", names),
    );
    assert.equal(existsSync(checkpointDir), false, "refused before the first checkpoint");
  });

  it("refuses a BatchNorm over one value per channel (a last batch of 1 sample), as PyTorch does, and so does train()", async () => {
    const mlp = loadFixture("mlp");
    const { bytes, output } = batchNormMlp();
    const shapes = shapesOf(mlp.dataset);
    const samples = shapes.tensors.find((t) => t.name === mlp.spec.target)!.shape[0]!;
    const base = { ...mlp.spec, output, validation: undefined, epochs: 1 };
    const leavesOne = { ...base, batch_size: samples - 1 };
    const refused = rejection("INVALID_SPEC", (e) =>
      assert.match(
        e.message,
        /BatchNormalization node .* one value per channel in a training batch of 1 sample/,
      ),
    );
    await assert.rejects(probeTrainingStep(bytes, leavesOne, shapes), refused);
    const checkpointDir = join(scratch, "bn-never");
    await assert.rejects(train({ ...mlp, model: bytes, spec: leavesOne, checkpointDir }), refused);
    assert.equal(existsSync(checkpointDir), false, "refused before the first checkpoint");
    // A remainder of two samples, or the remainder dropped, trains.
    await probeTrainingStep(bytes, { ...base, batch_size: samples - 2 }, shapes);
    await probeTrainingStep(bytes, { ...leavesOne, drop_last: true }, shapes);
  });

  it("refuses what upload inspection recorded of the values: ids past an embedding, NaN in CSV columns", async () => {
    const zoo = loadZooFixture("embeddings");
    const shapes = shapesOf(zoo.dataset);
    const tokens = (zoo.spec as { inputs: Record<string, string> }).inputs.tokens!;
    const withRange = (range: ValueRange): DatasetShapes => ({
      ...shapes,
      tensors: shapes.tensors.map((t) => (t.name === tokens ? { ...t, range } : t)),
    });
    await probeTrainingStep(zoo.model, zoo.spec, withRange({ min: 0, max: 15, non_finite: 0 }));
    await assert.rejects(
      probeTrainingStep(zoo.model, zoo.spec, withRange({ min: -1, max: 15, non_finite: 0 })),
      rejection("DATA_MODEL_MISMATCH", (e) =>
        assert.match(
          e.message,
          /ids run from -1 to 15, outside \[0, 15\]: node \S+ \(Gather\) looks it up in \S+, which has 16 rows/,
        ),
      ),
    );

    const mlp = loadFixture("mlp");
    const columns = [...Array.from({ length: 64 }, (_, i) => `px${i}`), "label"];
    const clean = { min: 0, max: 9, non_finite: 0 };
    const csv: DatasetShapes = {
      format: "csv",
      tensors: columns.map((name) => ({
        name,
        dtype: "float64",
        shape: [100],
        range: name === "px7" ? { min: 0, max: 3, non_finite: 2 } : clean,
      })),
    };
    const spec = { ...mlp.spec, inputs: { input: "px*" }, target: "label", validation: { fraction: 0.25 } };
    await assert.rejects(
      probeTrainingStep(mlp.model, spec, csv),
      rejection("DATA_MODEL_MISMATCH", (e) =>
        assert.match(e.message, /px\*: holds 2 NaN or infinite values/),
      ),
    );
  });

  it("accepts and trains a model that indexes activations with single integers (h[:, 0], h[:, -1])", async () => {
    const attention = loadFixture("attention");
    const { bytes, output } = firstAndLastToken();
    const spec = { ...attention.spec, output, epochs: undefined, max_steps: 20, checkpoint_every: 20 };
    await probeTrainingStep(bytes, spec, shapesOf(attention.dataset));
    const result = await train({ ...attention, model: bytes, spec });
    const losses = result.metrics.steps.map((s) => s.loss);
    assert.equal(losses.length, 20);
    assert.ok(losses.every(Number.isFinite) && losses.at(-1)! < losses[0]!, `losses ${losses}`);
  });
});
