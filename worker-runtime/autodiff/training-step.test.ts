import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { type Tensor, tensorFromNumbers } from "../onnx/dtypes.ts";
import { type LoadedModel, loadModel } from "../onnx/model.ts";
import { AutodiffError } from "./errors.ts";
import { buildEvalStep } from "./eval-step.ts";
import { sessionOptions, toOrt } from "./gradient-check.ts";
import { ModelBuilder, seededRandom } from "./model-builder.ts";
import { packTensors } from "./packing.ts";
import { buildTrainingStep, type TrainingStepOptions } from "./training-step.ts";

const random = seededRandom(5);
const values = (n: number) => Array.from({ length: n }, () => Math.fround(random() * 2 - 1));

function classifier(withDropout: boolean) {
  const m = new ModelBuilder(17);
  const x = m.input("x", "float32", ["batch", 4]);
  const hidden = m.op("Relu", [
    m.op("Gemm", [x, m.random("w1", "float32", [16, 4], random), m.random("b1", "float32", [16], random)], {
      transB: 1,
    }),
  ]);
  const dropped = withDropout
    ? m.op("Dropout", [
        hidden,
        m.constant(tensorFromNumbers("float32", [], [0.5])),
        m.constant(tensorFromNumbers("bool", [], [1])),
      ])
    : hidden;
  const y = m.op(
    "Gemm",
    [dropped, m.random("w2", "float32", [3, 16], random), m.random("b2", "float32", [3], random)],
    { transB: 1 },
  );
  m.output(y, "float32");
  return { model: loadModel(m.bytes()), output: y };
}

async function runStep(
  model: LoadedModel,
  options: TrainingStepOptions,
  batch: Tensor,
  target: Tensor,
  extra: Record<string, ort.Tensor> = {},
) {
  const step = buildTrainingStep(model, options);
  const session = await ort.InferenceSession.create(step.bytes, sessionOptions);
  const feeds: Record<string, ort.Tensor> = {
    x: toOrt(batch),
    [step.inputs.target]: toOrt(target),
    [step.inputs.learningRate]: new ort.Tensor("float32", Float32Array.of(0.1), []),
    [step.inputs.step]: new ort.Tensor("int64", BigInt64Array.of(1n), []),
    ...extra,
  };
  for (const p of step.params) feeds[p] = toOrt(step.initialParams.get(p)!);
  for (const s of step.state) feeds[s.name] = toOrt(s.init);
  return { step, result: await session.run(feeds) };
}

const base = { loss: { type: "cross_entropy" }, optimizer: { type: "sgd", momentum: 0.9 } } as const;

describe("training step graph", () => {
  it("with a dynamic batch, runs any batch size and matches the static graph", async () => {
    const { model, output } = classifier(false);
    const x4 = tensorFromNumbers("float32", [4, 4], values(16));
    const t4 = tensorFromNumbers("int64", [4], [0, 1, 2, 1]);
    const fixed = await runStep(model, { ...base, modelOutput: output, batchSize: 4 }, x4, t4);
    const dynamic = await runStep(model, { ...base, modelOutput: output, batchSize: "dynamic" }, x4, t4);
    const w1 = (r: typeof fixed) =>
      Array.from(r.result[r.step.outputs.params.get("w1")!]!.data as Float32Array);
    const [a, b] = [w1(fixed), w1(dynamic)];
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-7);
    const partial = await runStep(
      model,
      { ...base, modelOutput: output, batchSize: "dynamic" },
      tensorFromNumbers("float32", [3, 4], values(12)),
      tensorFromNumbers("int64", [3], [2, 0, 1]),
    );
    assert.ok(Number.isFinite(Number(partial.result[partial.step.outputs.loss]!.data[0])));
  });

  it("counts correct predictions in the graph, as argmax of the model output would", async () => {
    const { model, output } = classifier(false);
    const x = tensorFromNumbers("float32", [6, 4], values(24));
    const t = tensorFromNumbers("int64", [6], [0, 1, 2, 1, 0, 2]);
    const { step, result } = await runStep(
      model,
      { ...base, modelOutput: output, batchSize: "dynamic" },
      x,
      t,
    );
    const logits = result[output]!.data as Float32Array;
    let expected = 0;
    for (let n = 0; n < 6; n++) {
      const row = Array.from(logits.subarray(n * 3, n * 3 + 3));
      if (row.indexOf(Math.max(...row)) === Number((t.data as BigInt64Array)[n])) expected++;
    }
    assert.equal(Number(result[step.outputs.correct!]!.data[0]), expected);
  });

  it("counts BCE predictions as logit > 0 against targets above one half (soft targets too)", async () => {
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", ["batch", 4]);
    const y = m.op("MatMul", [x, m.random("w", "float32", [4, 2], random)]);
    m.output(y, "float32");
    const targets = [0.9, 0.2, 1, 0, 0.6, 0.4, 0.1, 0.7, 0, 1, 0.55, 0.45];
    const { step, result } = await runStep(
      loadModel(m.bytes()),
      { modelOutput: y, batchSize: "dynamic", loss: { type: "bce_with_logits" }, optimizer: { type: "sgd" } },
      tensorFromNumbers("float32", [6, 4], values(24)),
      tensorFromNumbers("float32", [6, 2], targets),
    );
    const logits = Array.from(result[y]!.data as Float32Array);
    const expected = logits.filter((v, i) => v > 0 === targets[i]! > 0.5).length;
    assert.ok(expected > 0 && expected < 12, `${expected} of 12: a count that tells something`);
    assert.equal(Number(result[step.outputs.correct!]!.data[0]), expected);
  });

  it("leaves frozen parameters out and refuses unknown ones", async () => {
    const { model, output } = classifier(false);
    const step = buildTrainingStep(model, {
      ...base,
      modelOutput: output,
      batchSize: 2,
      frozen: ["w1", "b1"],
    });
    assert.deepEqual(step.params, ["w2", "b2"]);
    assert.deepEqual(
      step.state.map((s) => s.name),
      ["w2.momentum_buffer", "b2.momentum_buffer"],
    );
    assert.throws(
      () => buildTrainingStep(model, { ...base, modelOutput: output, batchSize: 2, frozen: ["nope"] }),
      (e: unknown) => e instanceof AutodiffError && e.code === "UNKNOWN_PARAMETER",
    );
    assert.throws(
      () => buildTrainingStep(model, { ...base, modelOutput: "nope", batchSize: 2 }),
      (e: unknown) => e instanceof AutodiffError && e.code === "UNKNOWN_OUTPUT",
    );
  });

  it("is deterministic: the same feeds give bit-identical results", async () => {
    const { model, output } = classifier(false);
    const x = tensorFromNumbers("float32", [4, 4], values(16));
    const t = tensorFromNumbers("int64", [4], [0, 1, 2, 1]);
    const a = await runStep(model, { ...base, modelOutput: output, batchSize: 4 }, x, t);
    const b = await runStep(model, { ...base, modelOutput: output, batchSize: 4 }, x, t);
    for (const name of a.step.outputs.params.values())
      assert.deepEqual(a.result[name]!.data, b.result[name]!.data);
  });

  it("draws dropout masks from the seed input: same seed same step, other seed other mask", async () => {
    const { model, output } = classifier(true);
    const x = tensorFromNumbers("float32", [8, 4], values(32));
    const t = tensorFromNumbers("int64", [8], [0, 1, 2, 1, 0, 1, 2, 0]);
    const options = { ...base, modelOutput: output, batchSize: 8 } as const;
    const seed = (s: number) => ({ dropout_seed: new ort.Tensor("int64", BigInt64Array.of(BigInt(s)), []) });
    const a = await runStep(model, options, x, t, seed(1));
    const b = await runStep(model, options, x, t, seed(1));
    const c = await runStep(model, options, x, t, seed(2));
    assert.equal(a.step.inputs.dropoutSeed, "dropout_seed");
    const logits = (r: typeof a) => Array.from(r.result[output]!.data as Float32Array);
    assert.deepEqual(logits(a), logits(b));
    assert.notDeepEqual(logits(a), logits(c));

    // Evaluation ignores the exported training_mode=true: no dropout, no seed input.
    const evaluation = buildEvalStep(model, { modelOutput: output, batchSize: 8, loss: base.loss });
    const session = await ort.InferenceSession.create(evaluation.bytes, sessionOptions);
    assert.ok(!session.inputNames.includes("dropout_seed"));
    const feeds: Record<string, ort.Tensor> = { x: toOrt(x), [evaluation.inputs.target]: toOrt(t) };
    for (const name of evaluation.params) feeds[name] = toOrt(model.initializers.get(name)!);
    const evaluated = Array.from((await session.run(feeds))[output]!.data as Float32Array);
    const packed = buildEvalStep(model, {
      modelOutput: output,
      batchSize: 8,
      loss: base.loss,
      packParameters: true,
    });
    const packedSession = await ort.InferenceSession.create(packed.bytes, sessionOptions);
    const weights = new Map(
      packed.packing!.slots.map((slot) => [slot.name, model.initializers.get(slot.name)!]),
    );
    const packedFeeds = {
      x: feeds.x!,
      [packed.inputs.target]: feeds[packed.inputs.target]!,
      parameters: toOrt(packTensors(packed.packing!, weights)),
    };
    assert.deepEqual(
      Array.from((await packedSession.run(packedFeeds))[output]!.data as Float32Array),
      evaluated,
    );
    const w = (name: string) => model.initializers.get(name)!.data as Float32Array;
    const xs = x.data as Float32Array;
    const hidden = Array.from({ length: 16 }, (_, h) =>
      Math.max(0, w("b1")[h]! + [0, 1, 2, 3].reduce((acc, i) => acc + w("w1")[h * 4 + i]! * xs[i]!, 0)),
    );
    for (let o = 0; o < 3; o++) {
      const expected = hidden.reduce((acc, v, h) => acc + v * w("w2")[o * 16 + h]!, w("b2")[o]!);
      assert.ok(Math.abs(evaluated[o]! - expected) < 1e-5);
    }
  });

  it("keeps about 1 - p of the units under dropout, scaled by 1 / (1 - p)", async () => {
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", [64, 64]);
    m.initializer("w", tensorFromNumbers("float32", [64], new Array(64).fill(1)));
    const y = m.op("Dropout", [m.op("Mul", [x, "w"]), m.constant(tensorFromNumbers("float32", [], [0.25]))]);
    m.output(y, "float32");
    const ones = tensorFromNumbers("float32", [64, 64], new Array(4096).fill(1));
    const { result } = await runStep(
      loadModel(m.bytes()),
      { modelOutput: y, batchSize: 64, loss: { type: "mse" }, optimizer: { type: "sgd" } },
      ones,
      ones,
      { dropout_seed: new ort.Tensor("int64", BigInt64Array.of(7n), []) },
    );
    const out = Array.from(result[y]!.data as Float32Array);
    const kept = out.filter((v) => v !== 0);
    assert.ok(Math.abs(kept.length / out.length - 0.75) < 0.03, `kept ${kept.length / out.length}`);
    for (const v of kept) assert.ok(Math.abs(v - 1 / 0.75) < 1e-6);
  });

  it("draws RandomNormalLike as standard normal noise, the same for a seed, other for another; the reparameterization trains", async () => {
    // A VAE's z = mu + sigma * eps with eps = torch.randn_like(sigma).
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", [64, 64]);
    m.initializer("mu", tensorFromNumbers("float32", [64], new Array(64).fill(0.5)));
    m.initializer("sigma", tensorFromNumbers("float32", [64], new Array(64).fill(1)));
    const scale = m.op("Mul", [x, "sigma"]);
    const noise = m.op("RandomNormalLike", [scale]);
    const z = m.op("Add", [m.op("Mul", [x, "mu"]), m.op("Mul", [scale, noise])]);
    m.output(z, "float32");
    const model = loadModel(m.bytes());
    const ones = tensorFromNumbers("float32", [64, 64], new Array(4096).fill(1));
    const zeros = tensorFromNumbers("float32", [64, 64], new Array(4096).fill(0));
    const drawn = async (seed: bigint) => {
      const { step, result } = await runStep(
        model,
        { modelOutput: z, batchSize: 64, loss: { type: "mse" }, optimizer: { type: "sgd" } },
        ones,
        zeros,
        { dropout_seed: new ort.Tensor("int64", BigInt64Array.of(seed), []) },
      );
      const updated = (name: string) => result[step.outputs.params.get(name)!]!.data as Float32Array;
      return { eps: Array.from(result[z]!.data as Float32Array, (v) => v - 0.5), sigma: updated("sigma") };
    };
    const first = await drawn(7n);
    const mean = first.eps.reduce((a, b) => a + b, 0) / first.eps.length;
    const variance = first.eps.reduce((a, b) => a + (b - mean) ** 2, 0) / first.eps.length;
    assert.ok(Math.abs(mean) < 0.05 && Math.abs(variance - 1) < 0.07, `mean ${mean}, variance ${variance}`);
    assert.ok(first.eps.filter((v) => Math.abs(v) > 1.96).length / 4096 < 0.07, "tails of a normal");
    assert.deepEqual((await drawn(7n)).eps, first.eps);
    assert.notDeepEqual((await drawn(8n)).eps, first.eps);
    // d loss / d sigma flows through the noise: sigma moves (toward 0, since the target is 0).
    assert.ok(
      first.sigma.every((v) => v < 1),
      "sigma trained through sigma * eps",
    );
  });

  it("draws RandomUniformLike uniformly in [low, high)", async () => {
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", [64, 64]);
    m.initializer("w", tensorFromNumbers("float32", [64], new Array(64).fill(1)));
    const scaled = m.op("Mul", [x, "w"]);
    const y = m.op("Add", [
      scaled,
      m.op("RandomUniformLike", [scaled], { low: { float: -1 }, high: { float: 3 } }),
    ]);
    m.output(y, "float32");
    const zeros = tensorFromNumbers("float32", [64, 64], new Array(4096).fill(0));
    const { result } = await runStep(
      loadModel(m.bytes()),
      { modelOutput: y, batchSize: 64, loss: { type: "mse" }, optimizer: { type: "sgd" } },
      zeros,
      zeros,
      { dropout_seed: new ort.Tensor("int64", BigInt64Array.of(3n), []) },
    );
    const drawn = Array.from(result[y]!.data as Float32Array);
    assert.ok(drawn.every((v) => v >= -1 && v < 3));
    const mean = drawn.reduce((a, b) => a + b, 0) / drawn.length;
    const variance = drawn.reduce((a, b) => a + (b - mean) ** 2, 0) / drawn.length;
    assert.ok(
      Math.abs(mean - 1) < 0.06 && Math.abs(variance - 16 / 12) < 0.08,
      `mean ${mean}, variance ${variance}`,
    );
    const quarters = [0, 1, 2, 3].map((q) => drawn.filter((v) => v >= q - 1 && v < q).length / drawn.length);
    assert.ok(
      quarters.every((share) => Math.abs(share - 0.25) < 0.03),
      `quarters ${quarters}`,
    );
  });

  for (const [opType, attrs, expected] of [
    [
      "RandomNormal",
      { mean: { float: 2 }, scale: { float: 0.5 } },
      { mean: 2, variance: 0.25, low: -Infinity, high: Infinity },
    ],
    [
      "RandomUniform",
      { low: { float: -1 }, high: { float: 1 }, dtype: 1 },
      { mean: 0, variance: 1 / 3, low: -1, high: 1 },
    ],
  ] as const) {
    it(`draws ${opType} of a fixed shape (torch.${opType === "RandomNormal" ? "randn" : "rand"}(64, 64)) per step, the same for a seed`, async () => {
      const m = new ModelBuilder(17);
      const x = m.input("x", "float32", [64, 64]);
      m.initializer("w", tensorFromNumbers("float32", [64], new Array(64).fill(1)));
      const y = m.op("Add", [m.op("Mul", [x, "w"]), m.op(opType, [], { shape: [64, 64], ...attrs })]);
      m.output(y, "float32");
      const model = loadModel(m.bytes());
      const zeros = tensorFromNumbers("float32", [64, 64], new Array(4096).fill(0));
      const drawn = async (seed: bigint) => {
        const { result } = await runStep(
          model,
          { modelOutput: y, batchSize: 64, loss: { type: "mse" }, optimizer: { type: "sgd" } },
          zeros,
          zeros,
          { dropout_seed: new ort.Tensor("int64", BigInt64Array.of(seed), []) },
        );
        return Array.from(result[y]!.data as Float32Array);
      };
      const first = await drawn(5n);
      assert.ok(first.every((v) => v >= expected.low && v < expected.high));
      const mean = first.reduce((a, b) => a + b, 0) / first.length;
      const variance = first.reduce((a, b) => a + (b - mean) ** 2, 0) / first.length;
      assert.ok(
        Math.abs(mean - expected.mean) < 0.05 && Math.abs(variance / expected.variance - 1) < 0.07,
        `mean ${mean}, variance ${variance}`,
      );
      assert.deepEqual(await drawn(5n), first);
      assert.notDeepEqual(await drawn(6n), first);
    });
  }

  for (const [label, norm] of [
    ["torch.norm (Sqrt of a sum of squares)", (m: ModelBuilder, squares: string) => m.op("Sqrt", [squares])],
    [
      "vector_norm ord 2 written as Pow(sum, 1/2)",
      (m: ModelBuilder, squares: string) =>
        m.op("Pow", [squares, m.constant(tensorFromNumbers("float32", [], [0.5]))]),
    ],
  ] as const) {
    it(`gives a zero vector's ${label} PyTorch's norm gradient, 0, not NaN`, async () => {
      const m = new ModelBuilder(17);
      const x = m.input("x", "float32", [2, 2]);
      m.initializer("w", tensorFromNumbers("float32", [2], [1, 1]));
      const scaled = m.op("Mul", [x, "w"]);
      const y = norm(m, m.op("ReduceSum", [m.op("Mul", [scaled, scaled]), m.ints([1])], { keepdims: 1 }));
      m.output(y, "float32");
      const { step, result } = await runStep(
        loadModel(m.bytes()),
        { modelOutput: y, batchSize: 2, loss: { type: "mse" }, optimizer: { type: "sgd" } },
        tensorFromNumbers("float32", [2, 2], [3, 4, 0, 0]),
        tensorFromNumbers("float32", [2, 1], [0, 0]),
      );
      // Row [3, 4]: norm 5, dL/dnorm = 5 (mean over 2 rows of the squared error), dnorm/dw = x² w / 5
      // = [1.8, 3.2]; the zero row adds 0. SGD at lr 0.1: w = 1 - 0.1 · [9, 16].
      const w = Array.from(result[step.outputs.params.get("w")!]!.data as Float32Array);
      assert.ok(Math.abs(w[0]! - 0.1) < 1e-5 && Math.abs(w[1]! + 0.6) < 1e-5, `w ${w}`);
    });
  }

  it("updates BatchNormalization running statistics as PyTorch does; evaluation uses them", async () => {
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", ["batch", 2, 3]);
    m.initializer("bn.weight", tensorFromNumbers("float32", [2], [1.5, 0.5]));
    m.initializer("bn.bias", tensorFromNumbers("float32", [2], [0.1, -0.2]));
    m.initializer("bn.running_mean", tensorFromNumbers("float32", [2], [0.2, -0.1]));
    m.initializer("bn.running_var", tensorFromNumbers("float32", [2], [1.2, 0.8]));
    const bn = m.op("BatchNormalization", [x, "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"], {
      epsilon: { float: 1e-5 },
      momentum: { float: 0.9 },
    });
    const y = m.op("ReduceMean", [bn], { axes: [2], keepdims: 0 });
    m.output(y, "float32");
    const model = loadModel(m.bytes());
    const data = values(4 * 2 * 3);
    const input = tensorFromNumbers("float32", [4, 2, 3], data);
    const target = tensorFromNumbers("float32", [4, 2], values(8));
    const { step, result } = await runStep(
      model,
      { modelOutput: y, batchSize: "dynamic", loss: { type: "mse" }, optimizer: { type: "sgd" } },
      input,
      target,
    );
    assert.deepEqual(
      step.state.map((s) => s.name),
      ["bn.running_mean", "bn.running_var"],
    );
    const runningMean = Array.from(result[step.outputs.state.get("bn.running_mean")!]!.data as Float32Array);
    const runningVar = Array.from(result[step.outputs.state.get("bn.running_var")!]!.data as Float32Array);
    [0, 1].forEach((c) => {
      const channel = [0, 1, 2, 3].flatMap((n) => [0, 1, 2].map((k) => data[(n * 2 + c) * 3 + k]!));
      const mean = channel.reduce((a, b) => a + b, 0) / 12;
      const unbiased = channel.reduce((a, b) => a + (b - mean) ** 2, 0) / 11;
      const [rm, rv] = [[0.2, -0.1][c]!, [1.2, 0.8][c]!];
      assert.ok(Math.abs(runningMean[c]! - (0.9 * rm + 0.1 * mean)) < 1e-6);
      assert.ok(Math.abs(runningVar[c]! - (0.9 * rv + 0.1 * unbiased)) < 1e-6);
    });

    const evaluation = buildEvalStep(model, { modelOutput: y, batchSize: "dynamic", loss: { type: "mse" } });
    assert.deepEqual(evaluation.state, ["bn.running_mean", "bn.running_var"]);
    const session = await ort.InferenceSession.create(evaluation.bytes, sessionOptions);
    const feeds: Record<string, ort.Tensor> = { x: toOrt(input), [evaluation.inputs.target]: toOrt(target) };
    for (const name of [...evaluation.params, ...evaluation.state])
      feeds[name] = toOrt(model.initializers.get(name)!);
    const out = await session.run(feeds);
    const expected0 = (((data[0]! + data[1]! + data[2]!) / 3 - 0.2) / Math.sqrt(1.2 + 1e-5)) * 1.5 + 0.1;
    assert.ok(Math.abs(Number(out[evaluation.outputs.modelOutput]!.data[0]) - expected0) < 1e-5);
    assert.ok(Number.isFinite(Number(out[evaluation.outputs.loss]!.data[0])));
  });
});
