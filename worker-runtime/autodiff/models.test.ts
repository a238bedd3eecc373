import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { type DType, type Tensor, tensorFromNumbers } from "../onnx/dtypes.ts";
import { type LoadedModel, loadModel } from "../onnx/model.ts";
import { compareGradients, sessionOptions, toOrt } from "./gradient-check.ts";
import { ModelBuilder, seededRandom } from "./model-builder.ts";
import { buildTrainingStep } from "./training-step.ts";

// Whole models, one plain SGD step each, against the same step computed independently:
// p - lr * (central finite differences of the loss), in float64 where onnxruntime allows.

type Init = (name: string, dims: number[], scale: number) => string;

/** Parameters drawn in float32 precision, so the float32 and float64 twins hold equal values. */
function twin(
  seed: number,
  build: (m: ModelBuilder, init: Init, dtype: DType) => string,
  dtype: DType,
  opset = 17,
) {
  const random = seededRandom(seed);
  const m = new ModelBuilder(opset);
  const init: Init = (name, dims, scale) => {
    const n = dims.reduce((a, b) => a * b, 1);
    return m.initializer(
      name,
      tensorFromNumbers(
        dtype,
        dims,
        Array.from({ length: n }, () => Math.fround((random() * 2 - 1) * scale)),
      ),
    );
  };
  const output = build(m, init, dtype);
  m.output(output, dtype);
  return { model: loadModel(m.bytes()), output };
}

function mlp(m: ModelBuilder, init: Init, dtype: DType): string {
  const x = m.input("x", dtype, ["batch", 8]);
  const h = m.op("Relu", [
    m.op("Gemm", [x, init("fc1.weight", [16, 8], 0.35), init("fc1.bias", [16], 0.35)], { transB: 1 }),
  ]);
  return m.op("Gemm", [h, init("fc2.weight", [4, 16], 0.25), init("fc2.bias", [4], 0.25)], { transB: 1 });
}

function cnn(m: ModelBuilder, init: Init, dtype: DType): string {
  const x = m.input("x", dtype, ["batch", 1, 6, 6]);
  const conv = m.op("Conv", [x, init("conv.weight", [3, 1, 3, 3], 0.3), init("conv.bias", [3], 0.3)], {
    pads: [1, 1, 1, 1],
  });
  m.initializer("bn.running_mean", tensorFromNumbers(dtype, [3], [0, 0, 0]));
  m.initializer("bn.running_var", tensorFromNumbers(dtype, [3], [1, 1, 1]));
  const bn = m.op(
    "BatchNormalization",
    [conv, init("bn.weight", [3], 1), init("bn.bias", [3], 0.5), "bn.running_mean", "bn.running_var"],
    {
      epsilon: { float: 1e-5 },
      momentum: { float: 0.9 },
    },
  );
  const pooled = m.op("MaxPool", [m.op("Relu", [bn])], { kernel_shape: [2, 2], strides: [2, 2] });
  // x.view(x.size(0), -1), as torch.onnx.export writes it: Shape, Gather, Unsqueeze, Concat, Reshape.
  const batch = m.op("Unsqueeze", [
    m.op("Gather", [m.op("Shape", [pooled]), m.constant(tensorFromNumbers("int64", [], [0]))]),
    m.ints([0]),
  ]);
  const flat = m.op("Reshape", [pooled, m.op("Concat", [batch, m.ints([-1])], { axis: 0 })]);
  return m.op("Gemm", [flat, init("fc.weight", [4, 27], 0.2), init("fc.bias", [4], 0.2)], { transB: 1 });
}

function attention(m: ModelBuilder, init: Init, dtype: DType): string {
  const [tokens, width, heads] = [4, 8, 2];
  const x = m.input("x", dtype, ["batch", tokens, width]);
  const c = (v: number) => m.constant(tensorFromNumbers(dtype, [], [v]));
  const normed = m.op(
    "LayerNormalization",
    [x, init("ln.weight", [width], 1), init("ln.bias", [width], 0.2)],
    { axis: -1 },
  );
  const batch = m.op("Unsqueeze", [
    m.op("Gather", [m.op("Shape", [x]), m.constant(tensorFromNumbers("int64", [], [0]))]),
    m.ints([0]),
  ]);
  const headShape = m.op("Concat", [batch, m.ints([tokens, heads, width / heads])], { axis: 0 });
  const project = (name: string) => {
    const p = m.op("MatMul", [normed, init(`${name}.weight`, [width, width], 0.35)]);
    return m.op("Transpose", [m.op("Reshape", [p, headShape])], { perm: [0, 2, 1, 3] });
  };
  const [q, k, v] = [project("q"), project("k"), project("v")];
  const scores = m.op("Div", [
    m.op("MatMul", [q, m.op("Transpose", [k], { perm: [0, 1, 3, 2] })]),
    c(Math.sqrt(width / heads)),
  ]);
  const mixed = m.op("MatMul", [m.op("Softmax", [scores], { axis: -1 }), v]);
  const merged = m.op("Reshape", [
    m.op("Transpose", [mixed], { perm: [0, 2, 1, 3] }),
    m.op("Concat", [batch, m.ints([tokens, width])], { axis: 0 }),
  ]);
  const residual = m.op("Add", [x, m.op("MatMul", [merged, init("out.weight", [width, width], 0.35)])]);
  // GELU with approximate="tanh" as PyTorch exports it (Erf has no float64 kernel in onnxruntime).
  const cubic = m.op("Mul", [m.op("Pow", [residual, c(3)]), c(0.044715)]);
  const inner = m.op("Mul", [m.op("Add", [residual, cubic]), c(Math.sqrt(2 / Math.PI))]);
  const gelu = m.op("Mul", [m.op("Mul", [residual, m.op("Add", [m.op("Tanh", [inner]), c(1)])]), c(0.5)]);
  const pooled = m.op("ReduceMean", [gelu], { axes: [1], keepdims: 0 });
  return m.op("Gemm", [pooled, init("head.weight", [3, width], 0.35), init("head.bias", [3], 0.1)], {
    transB: 1,
  });
}

function batchOf(dtype: DType, dims: number[], seed: number): Tensor {
  const random = seededRandom(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return tensorFromNumbers(
    dtype,
    dims,
    Array.from({ length: n }, () => Math.fround(random() * 2 - 1)),
  );
}

async function sgdStep(model: LoadedModel, output: string, x: Tensor, target: Tensor, lr: number) {
  const step = buildTrainingStep(model, {
    modelOutput: output,
    batchSize: x.dims[0]!,
    loss: { type: "cross_entropy" },
    optimizer: { type: "sgd" },
  });
  const session = await ort.InferenceSession.create(step.bytes, sessionOptions);
  const feeds: Record<string, ort.Tensor> = {
    x: toOrt(x),
    [step.inputs.target]: toOrt(target),
    [step.inputs.learningRate]: new ort.Tensor("float32", Float32Array.of(lr), []),
    [step.inputs.step]: new ort.Tensor("int64", BigInt64Array.of(1n), []),
  };
  for (const p of step.params) feeds[p] = toOrt(model.initializers.get(p)!);
  for (const s of step.state) feeds[s.name] = toOrt(s.init);
  const result = await session.run(feeds);
  return { step, result };
}

/**
 * The CNN's forward and cross-entropy in plain float64 TypeScript (onnxruntime has no float64
 * Conv, and float32 differences are too coarse next to MaxPool and Relu kinks).
 */
function cnnLoss(params: Map<string, Float64Array>, x: Float64Array, target: number[]): number {
  const [n, size, channels, classes] = [4, 6, 3, 4];
  const w = params.get("conv.weight")!;
  const cb = params.get("conv.bias")!;
  const conv = new Float64Array(n * channels * size * size);
  const at = (b: number, c: number, i: number, j: number) => ((b * channels + c) * size + i) * size + j;
  for (let b = 0; b < n; b++)
    for (let c = 0; c < channels; c++)
      for (let i = 0; i < size; i++)
        for (let j = 0; j < size; j++) {
          let sum = cb[c]!;
          for (let di = 0; di < 3; di++)
            for (let dj = 0; dj < 3; dj++) {
              const [r, q] = [i + di - 1, j + dj - 1];
              if (r >= 0 && r < size && q >= 0 && q < size)
                sum += w[c * 9 + di * 3 + dj]! * x[(b * size + r) * size + q]!;
            }
          conv[at(b, c, i, j)] = sum;
        }
  const count = n * size * size;
  for (let c = 0; c < channels; c++) {
    let mean = 0;
    for (let b = 0; b < n; b++) for (let k = 0; k < size * size; k++) mean += conv[at(b, c, 0, 0) + k]!;
    mean /= count;
    let variance = 0;
    for (let b = 0; b < n; b++)
      for (let k = 0; k < size * size; k++) variance += (conv[at(b, c, 0, 0) + k]! - mean) ** 2;
    variance /= count;
    const scale = params.get("bn.weight")![c]! / Math.sqrt(variance + 1e-5);
    for (let b = 0; b < n; b++)
      for (let k = 0; k < size * size; k++) {
        const v = (conv[at(b, c, 0, 0) + k]! - mean) * scale + params.get("bn.bias")![c]!;
        conv[at(b, c, 0, 0) + k] = Math.max(0, v);
      }
  }
  const half = size / 2;
  const fw = params.get("fc.weight")!;
  const fb = params.get("fc.bias")!;
  let loss = 0;
  for (let b = 0; b < n; b++) {
    const flat: number[] = [];
    for (let c = 0; c < channels; c++)
      for (let i = 0; i < half; i++)
        for (let j = 0; j < half; j++)
          flat.push(
            Math.max(
              conv[at(b, c, 2 * i, 2 * j)]!,
              conv[at(b, c, 2 * i, 2 * j + 1)]!,
              conv[at(b, c, 2 * i + 1, 2 * j)]!,
              conv[at(b, c, 2 * i + 1, 2 * j + 1)]!,
            ),
          );
    const logits = Array.from({ length: classes }, (_, o) =>
      flat.reduce((a, v, k) => a + v * fw[o * flat.length + k]!, fb[o]!),
    );
    const top = Math.max(...logits);
    const logSum = top + Math.log(logits.reduce((a, v) => a + Math.exp(v - top), 0));
    loss += logSum - logits[target[b]!]!;
  }
  return loss / n;
}

interface ModelCase {
  name: string;
  build: (m: ModelBuilder, init: Init, dtype: DType) => string;
  input: number[];
  /** dtype of the independent finite-difference reference. */
  reference: DType;
  h: number;
  lr: number;
}

const modelCases: ModelCase[] = [
  { name: "MLP (Gemm, Relu)", build: mlp, input: [4, 8], reference: "float64", h: 1e-6, lr: 0.1 },
  {
    name: "attention block (LayerNorm, MatMul, Softmax, GELU, Reshape, Transpose)",
    build: attention,
    input: [3, 4, 8],
    reference: "float64",
    h: 1e-6,
    lr: 0.1,
  },
];

describe("one SGD step of the CNN equals p - lr * finite differences of an independent float64 forward", () => {
  it("CNN (Conv, BatchNormalization, Relu, MaxPool, Flatten by shape subgraph)", async () => {
    const lr = 0.1;
    const trained = twin(7, cnn, "float32");
    const x = batchOf("float32", [4, 1, 6, 6], 11);
    const labels = [0, 1, 2, 0];
    const target = tensorFromNumbers("int64", [4], labels);
    const { step, result } = await sgdStep(trained.model, trained.output, x, target, lr);
    const params = new Map(
      step.params.map((p) => [p, Float64Array.from(trained.model.initializers.get(p)!.data as Float32Array)]),
    );
    const x64 = Float64Array.from(x.data as Float32Array);
    let worst = 0;
    for (const [name, values] of params) {
      const after = result[step.outputs.params.get(name)!]!.data as Float32Array;
      for (let i = 0; i < values.length; i++) {
        const original = values[i]!;
        values[i] = original + 1e-6;
        const plus = cnnLoss(params, x64, labels);
        values[i] = original - 1e-6;
        const minus = cnnLoss(params, x64, labels);
        values[i] = original;
        const expected = original - (lr * (plus - minus)) / 2e-6;
        worst = Math.max(worst, Math.abs(after[i]! - expected));
      }
    }
    assert.ok(worst <= 1e-5, `largest difference from the reference step: ${worst}`);
  });
});

describe("one SGD step of a whole model equals p - lr * finite-difference gradient", () => {
  for (const c of modelCases) {
    it(c.name, async () => {
      const trained = twin(7, c.build, "float32");
      const reference = twin(7, c.build, c.reference);
      const x32 = batchOf("float32", c.input, 11);
      const target = tensorFromNumbers(
        "int64",
        [c.input[0]!],
        Array.from({ length: c.input[0]! }, (_, i) => i % 3),
      );
      const { step, result } = await sgdStep(trained.model, trained.output, x32, target, c.lr);
      const { numeric } = await compareGradients(reference.model, {
        modelOutput: reference.output,
        loss: { type: "cross_entropy" },
        batch: new Map([["x", batchOf(c.reference, c.input, 11)]]),
        target,
        h: c.h,
      });
      let worst = 0;
      for (const p of step.params) {
        const before = trained.model.initializers.get(p)!.data as Float32Array;
        const after = result[step.outputs.params.get(p)!]!.data as Float32Array;
        const gradient = numeric.get(p)!;
        for (let i = 0; i < before.length; i++) {
          worst = Math.max(worst, Math.abs(after[i]! - (before[i]! - c.lr * gradient[i]!)));
        }
      }
      assert.ok(worst <= 1e-5, `largest difference from the reference step: ${worst}`);
    });
  }
});
