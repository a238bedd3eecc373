import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import { loadModel } from "../onnx/model.ts";
import { sessionOptions, toOrt } from "./gradient-check.ts";
import { ModelBuilder, seededRandom } from "./model-builder.ts";
import { loopTrainingStep } from "./multi-step.ts";
import { buildTrainingStep, type TrainingStepOptions } from "./training-step.ts";

const random = seededRandom(11);
const values = (n: number) => Array.from({ length: n }, () => Math.fround(random() * 2 - 1));
const classes = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 3));

/** Gemm, BatchNormalization (running statistics are state), ReLU, Dropout, Gemm. */
function classifier() {
  const m = new ModelBuilder(17);
  const x = m.input("x", "float32", ["batch", 4]);
  const hidden = m.op(
    "Gemm",
    [x, m.random("w1", "float32", [8, 4], random), m.random("b1", "float32", [8], random)],
    {
      transB: 1,
    },
  );
  m.initializer("bn.weight", tensorFromNumbers("float32", [8], values(8)));
  m.initializer("bn.bias", tensorFromNumbers("float32", [8], values(8)));
  m.initializer("bn.running_mean", tensorFromNumbers("float32", [8], new Array(8).fill(0)));
  m.initializer("bn.running_var", tensorFromNumbers("float32", [8], new Array(8).fill(1)));
  const normalized = m.op(
    "BatchNormalization",
    [hidden, "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
    { epsilon: { float: 1e-5 }, momentum: { float: 0.9 } },
  );
  const dropped = m.op("Dropout", [
    m.op("Relu", [normalized]),
    m.constant(tensorFromNumbers("float32", [], [0.3])),
    m.constant(tensorFromNumbers("bool", [], [1])),
  ]);
  const y = m.op(
    "Gemm",
    [dropped, m.random("w2", "float32", [3, 8], random), m.random("b2", "float32", [3], random)],
    {
      transB: 1,
    },
  );
  m.output(y, "float32");
  return { model: loadModel(m.bytes()), output: y };
}

const bytesOf = (t: ort.Tensor) => {
  const data = t.data as Float32Array;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
};

/**
 * `steps` optimizer steps as that many runs of the one-step graph, then as one run of the loop;
 * with `ends`, of the loop that also emits the state after each of those steps (LoopOptions.leaves).
 */
async function compare(options: TrainingStepOptions, steps: number, batch: number, ends?: number[]) {
  const { model } = classifier();
  const step = buildTrainingStep(model, options);
  const looped = loopTrainingStep(step, { leaves: ends !== undefined });
  // A pool of more samples than the steps take, taken in a shuffled order with repeats, as epochs
  // and drop_last make them.
  const pool = steps * batch + 3;
  const poolX = values(pool * 4);
  const poolT = classes(pool);
  const indices = Array.from({ length: steps * batch }, () => Math.floor(random() * pool));
  const rows = (i: number) => indices.slice(i * batch, (i + 1) * batch);
  const xs = Array.from({ length: steps }, (_, i) =>
    tensorFromNumbers(
      "float32",
      [batch, 4],
      rows(i).flatMap((r) => poolX.slice(r * 4, r * 4 + 4)),
    ),
  );
  const ts = Array.from({ length: steps }, (_, i) =>
    tensorFromNumbers(
      "int64",
      [batch],
      rows(i).map((r) => poolT[r]!),
    ),
  );
  const lrs = Array.from({ length: steps }, (_, i) => 0.1 / (i + 1));
  const seeds = Array.from({ length: steps }, (_, i) => BigInt(100 + i));

  const single = await ort.InferenceSession.create(step.bytes, sessionOptions);
  let carried: Record<string, ort.Tensor> = {};
  for (const p of step.params) carried[p] = toOrt(step.initialParams.get(p)!);
  for (const s of step.state) carried[s.name] = toOrt(s.init);
  const losses: number[] = [];
  const corrects: number[] = [];
  const after: Array<Record<string, ort.Tensor>> = [];
  for (let i = 0; i < steps; i++) {
    const result = await single.run({
      ...carried,
      x: toOrt(xs[i]!),
      [step.inputs.target]: toOrt(ts[i]!),
      [step.inputs.learningRate]: new ort.Tensor("float32", Float32Array.of(lrs[i]!), []),
      [step.inputs.step]: new ort.Tensor("int64", BigInt64Array.of(BigInt(i + 1)), []),
      [step.inputs.dropoutSeed!]: new ort.Tensor("int64", BigInt64Array.of(seeds[i]!), []),
    });
    losses.push(Number(result[step.outputs.loss]!.data[0]));
    corrects.push(Number(result[step.outputs.correct!]!.data[0]));
    carried = Object.fromEntries(
      [...step.outputs.params, ...step.outputs.state].map(([input, output]) => [input, result[output]!]),
    );
    after.push(carried);
  }

  const loop = await ort.InferenceSession.create(looped.bytes, sessionOptions);
  const initial: Record<string, ort.Tensor> = {};
  for (const p of step.params) initial[p] = toOrt(step.initialParams.get(p)!);
  for (const s of step.state) initial[s.name] = toOrt(s.init);
  const result = await loop.run({
    ...initial,
    x: toOrt(tensorFromNumbers("float32", [pool, 4], poolX)),
    [looped.inputs.target]: toOrt(tensorFromNumbers("int64", [pool], poolT)),
    [looped.samples]: new ort.Tensor("int32", Int32Array.from(indices), [steps, batch]),
    [looped.inputs.learningRate]: new ort.Tensor("float32", Float32Array.from(lrs), [steps]),
    [looped.inputs.step]: new ort.Tensor(
      "int64",
      BigInt64Array.from(lrs, (_, i) => BigInt(i + 1)),
      [steps],
    ),
    [looped.inputs.dropoutSeed!]: new ort.Tensor("int64", BigInt64Array.from(seeds), [steps]),
    ...(ends && {
      [looped.leaves!.ends]: new ort.Tensor("int64", BigInt64Array.from(ends, BigInt), [ends.length]),
    }),
  });
  assert.deepEqual(Array.from(result[looped.outputs.losses]!.data as Float32Array), losses);
  assert.deepEqual(Array.from(result[looped.outputs.corrects!]!.data as Float32Array), corrects);
  const finals = [...looped.outputs.params, ...looped.outputs.state];
  assert.equal(finals.length, step.params.length + step.state.length);
  for (const [input, output] of finals) {
    assert.ok(bytesOf(result[output]!).equals(bytesOf(carried[input]!)), `${input} differs`);
  }
  if (ends) {
    const leaves = [...looped.leaves!.params, ...looped.leaves!.state];
    assert.equal(leaves.length, finals.length);
    for (const [input, output] of leaves) {
      const stacked = bytesOf(result[output]!);
      assert.equal(result[output]!.dims[0], ends.length);
      const size = stacked.length / ends.length;
      ends.forEach((end, w) => {
        const expected = bytesOf(after[end - 1]![input]!);
        assert.ok(
          stacked.subarray(w * size, (w + 1) * size).equals(expected),
          `${input} after step ${end} differs`,
        );
      });
    }
  }
  // The steps did change the parameters: the comparison is not between initial values.
  assert.ok(
    !bytesOf(result[looped.outputs.params.get(step.params[0]!)!]!).equals(bytesOf(initial[step.params[0]!]!)),
  );
}

describe("loop over training steps", () => {
  const { output } = classifier();

  it("packed SGD with Nesterov momentum, fixed batch: every bit as the one-step graph, run by run", async () => {
    await compare(
      {
        modelOutput: output,
        batchSize: 6,
        loss: { type: "cross_entropy" },
        optimizer: { type: "sgd", momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
        packParameters: true,
      },
      5,
      6,
    );
  });

  it("one tensor per parameter, Adam, clipping, dynamic batch: the same", async () => {
    await compare(
      {
        modelOutput: output,
        batchSize: "dynamic",
        loss: { type: "cross_entropy", labelSmoothing: 0.1 },
        optimizer: { type: "adam", beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
        clipGradNorm: 0.5,
      },
      4,
      5,
    );
  });

  it("emits the state after chosen steps, windows of unequal length: every bit as the one-step graph", async () => {
    await compare(
      {
        modelOutput: output,
        batchSize: 6,
        loss: { type: "cross_entropy" },
        optimizer: { type: "adam", beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
        packParameters: true,
      },
      7,
      6,
      [1, 3, 6, 7],
    );
  });

  it("emits every step's state, and one window of every step", async () => {
    const options: TrainingStepOptions = {
      modelOutput: output,
      batchSize: 4,
      loss: { type: "cross_entropy" },
      optimizer: { type: "sgd", momentum: 0.9, nesterov: false, weightDecay: 0 },
    };
    await compare(options, 3, 4, [1, 2, 3]);
    await compare(options, 3, 4, [3]);
  });

  it("runs a single step too", async () => {
    await compare(
      {
        modelOutput: output,
        batchSize: 3,
        loss: { type: "cross_entropy" },
        optimizer: { type: "sgd" },
        packParameters: true,
      },
      1,
      3,
    );
  });
});

it("names what it adds apart from the model's own names", async () => {
  const m = new ModelBuilder(17);
  const x = m.input("x", "float32", ["batch", 4]);
  m.initializer("loop/scale", tensorFromNumbers("float32", [4], values(4)));
  const y = m.op("MatMul", [m.op("Mul", [x, "loop/scale"]), m.random("w", "float32", [4, 3], random)]);
  m.output(y, "float32");
  const step = buildTrainingStep(loadModel(m.bytes()), {
    modelOutput: y,
    batchSize: 2,
    loss: { type: "cross_entropy" },
    optimizer: { type: "sgd" },
  });
  const looped = loopTrainingStep(step);
  assert.equal(looped.outputs.losses, "loop_1/losses");
  const session = await ort.InferenceSession.create(looped.bytes, sessionOptions);
  const result = await session.run({
    x: new ort.Tensor("float32", Float32Array.from(values(12)), [3, 4]),
    [looped.inputs.target]: new ort.Tensor("int64", BigInt64Array.of(0n, 1n, 2n), [3]),
    [looped.samples]: new ort.Tensor("int32", Int32Array.of(2, 0, 1, 1), [2, 2]),
    [looped.inputs.learningRate]: new ort.Tensor("float32", Float32Array.of(0.1, 0.1), [2]),
    [looped.inputs.step]: new ort.Tensor("int64", BigInt64Array.of(1n, 2n), [2]),
    ...Object.fromEntries(step.params.map((p) => [p, toOrt(step.initialParams.get(p)!)])),
  });
  assert.equal(result[looped.outputs.losses]!.dims[0], 2);
});
