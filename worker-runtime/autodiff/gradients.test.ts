import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DType, isFloat, type Tensor, tensorFromNumbers } from "../onnx/dtypes.ts";
import { type Dim, type LoadedModel, loadModel } from "../onnx/model.ts";
import { DROPOUT_SEED_INPUT } from "./forward.ts";
import { checkGradients } from "./gradient-check.ts";
import { gradientRules, NON_DIFFERENTIABLE } from "./gradients.ts";
import type { LossOptions } from "./losses.ts";
import { ModelBuilder, seededRandom } from "./model-builder.ts";

interface Case {
  name: string;
  /** float64 where onnxruntime's CPU provider has the operator in double, float32 otherwise. */
  dtype: DType;
  opset?: number;
  build(
    m: ModelBuilder,
    p: (name: string, dims: number[], scale?: number) => string,
  ): { output: string; shape: number[] };
  loss?: LossOptions;
  /**
   * For max-like operators: parameters get distinct, evenly spaced values (a seeded permutation),
   * so the finite-difference step never swaps which element is the maximum.
   */
  distinct?: boolean;
  target?(shape: number[]): Tensor;
  /** Graph inputs besides the parameters and the target (Dropout's seed). */
  batch?: Map<string, Tensor>;
}

const cases: Case[] = [];
function add(c: Case) {
  cases.push(c);
}

function unaryCase(
  opType: string,
  dtype: DType,
  attrs: Record<string, number | string | { float: number }> = {},
  shift = 0,
) {
  add({
    name: opType,
    dtype,
    build: (m, p) => {
      const x =
        shift === 0
          ? p("x", [3, 4])
          : m.op("Add", [p("x", [3, 4]), m.constant(tensorFromNumbers(dtype, [], [shift]))]);
      return { output: m.op(opType, [x], attrs), shape: [3, 4] };
    },
  });
}

unaryCase("Neg", "float64");
unaryCase("Relu", "float64");
unaryCase("LeakyRelu", "float32", { alpha: { float: 0.1 } });
unaryCase("Sigmoid", "float64");
unaryCase("Tanh", "float64");
unaryCase("Erf", "float32");
unaryCase("Exp", "float64");
unaryCase("Log", "float64", {}, 2);
unaryCase("Sqrt", "float64", {}, 2);
unaryCase("Reciprocal", "float64", {}, 2);
unaryCase("Abs", "float64");
unaryCase("Softmax", "float64", { axis: 1 });
unaryCase("LogSoftmax", "float64", { axis: -1 });
unaryCase("Identity", "float64");
unaryCase("Softplus", "float32");
unaryCase("Elu", "float32", { alpha: { float: 0.7 } });
unaryCase("HardSigmoid", "float32", { alpha: { float: 0.3 }, beta: { float: 0.4 } });
add({
  name: "Dropout as trained: a seeded mask, scaled by 1 / (1 - ratio)",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("Dropout", [p("x", [3, 4]), m.constant(tensorFromNumbers("float64", [], [0.3]))]),
    shape: [3, 4],
  }),
  batch: new Map([[DROPOUT_SEED_INPUT, tensorFromNumbers("int64", [], [5])]]),
});
add({
  name: "HardSwish across all three pieces",
  dtype: "float32",
  build: (m, p) => ({ output: m.op("HardSwish", [p("x", [3, 4], 5)]), shape: [3, 4] }),
});
add({
  name: "Clip with min and max (ReLU6-like)",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("Clip", [
      p("x", [3, 4], 2),
      m.constant(tensorFromNumbers("float64", [], [-0.5])),
      m.constant(tensorFromNumbers("float64", [], [0.8])),
    ]),
    shape: [3, 4],
  }),
});
add({
  name: "PRelu with a per-channel slope",
  dtype: "float32",
  build: (m, p) => ({ output: m.op("PRelu", [p("x", [2, 3, 4]), p("slope", [3, 1])]), shape: [2, 3, 4] }),
});
add({
  name: "Max, Min and Sum of three broadcast inputs",
  dtype: "float64",
  build: (m, p) => {
    const [a, b, c] = [p("a", [2, 3]), p("b", [3]), p("c", [2, 1])];
    return { output: m.op("Sum", [m.op("Max", [a, b, c]), m.op("Min", [a, b, c]), a]), shape: [2, 3] };
  },
});
add({
  name: "ReduceMax over an axis input, ReduceMin over all axes (opset 18)",
  dtype: "float64",
  opset: 18,
  build: (m, p) => {
    const x = p("x", [3, 4]);
    const max = m.op("ReduceMax", [x, m.ints([1])], { keepdims: 0 });
    return { output: m.op("Add", [max, m.op("ReduceMin", [x], { keepdims: 0 })]), shape: [3] };
  },
});
add({
  name: "GlobalMaxPool",
  dtype: "float32",
  distinct: true,
  build: (m, p) => ({ output: m.op("GlobalMaxPool", [p("x", [2, 3, 3, 2])]), shape: [2, 3, 1, 1] }),
});
add({
  name: "Tile and Trilu",
  dtype: "float64",
  opset: 14,
  build: (m, p) => ({
    output: m.op("Trilu", [m.op("Tile", [p("x", [2, 3]), m.ints([2, 2])])], { upper: 0 }),
    shape: [4, 6],
  }),
});
add({
  name: "Gelu (opset 20, exact)",
  dtype: "float32",
  opset: 20,
  build: (m, p) => ({ output: m.op("Gelu", [p("x", [3, 4])]), shape: [3, 4] }),
});
add({
  name: "Gelu (opset 20, tanh)",
  dtype: "float32",
  opset: 20,
  build: (m, p) => ({ output: m.op("Gelu", [p("x", [3, 4])], { approximate: "tanh" }), shape: [3, 4] }),
});
add({
  name: "Gelu as PyTorch exports it below opset 20 (Div, Erf, Add, Mul, Mul)",
  dtype: "float32",
  build: (m, p) => {
    const x = p("x", [3, 4]);
    const c = (v: number) => m.constant(tensorFromNumbers("float32", [], [v]));
    const erf = m.op("Erf", [m.op("Div", [x, c(Math.SQRT2)])]);
    return { output: m.op("Mul", [m.op("Mul", [x, m.op("Add", [erf, c(1)])]), c(0.5)]), shape: [3, 4] };
  },
});
for (const op of ["Add", "Sub", "Mul", "Div"]) {
  add({
    name: `${op} with broadcasting`,
    dtype: "float64",
    build: (m, p) => {
      const a = p("a", [2, 3, 4]);
      const b =
        op === "Div"
          ? m.op("Add", [p("b", [3, 1]), m.constant(tensorFromNumbers("float64", [], [3]))])
          : p("b", [3, 1]);
      return { output: m.op(op, [a, b]), shape: [2, 3, 4] };
    },
  });
}
add({
  name: "Pow with a constant exponent",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("Pow", [
      m.op("Add", [p("x", [3, 4]), m.constant(tensorFromNumbers("float64", [], [2]))]),
      m.constant(tensorFromNumbers("float64", [], [3])),
    ]),
    shape: [3, 4],
  }),
});
add({
  name: "Pow with exponent 2",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("Pow", [p("x", [3, 4]), m.constant(tensorFromNumbers("float64", [], [2]))]),
    shape: [3, 4],
  }),
});
for (const [transA, transB] of [
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
]) {
  add({
    name: `Gemm transA=${transA} transB=${transB} alpha/beta`,
    dtype: "float64",
    build: (m, p) => ({
      output: m.op(
        "Gemm",
        [p("a", transA ? [4, 3] : [3, 4]), p("b", transB ? [5, 4] : [4, 5]), p("c", [5])],
        {
          transA: transA!,
          transB: transB!,
          alpha: { float: 0.5 },
          beta: { float: 2 },
        },
      ),
      shape: [3, 5],
    }),
  });
}
add({
  name: "MatMul batched by a shared weight",
  dtype: "float64",
  build: (m, p) => ({ output: m.op("MatMul", [p("a", [2, 3, 4]), p("b", [4, 5])]), shape: [2, 3, 5] }),
});
add({
  name: "MatMul with broadcast batch dims",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("MatMul", [p("a", [2, 1, 3, 4]), p("b", [3, 4, 2])]),
    shape: [2, 3, 3, 2],
  }),
});
add({
  name: "MatMul of a vector",
  dtype: "float64",
  build: (m, p) => ({ output: m.op("MatMul", [p("a", [4]), p("b", [2, 4, 3])]), shape: [2, 3] }),
});
add({
  name: "Einsum attention scores and a three-operand contraction",
  dtype: "float64",
  build: (m, p) => {
    const scores = m.op("Einsum", [p("q", [2, 3, 4]), p("k", [2, 5, 4])], { equation: "bid,bjd->bij" });
    return {
      output: m.op("Einsum", [scores, p("v", [2, 5, 3]), p("w", [3])], { equation: "bij,bjc,c->bi" }),
      shape: [2, 3],
    };
  },
});
add({
  name: "Einsum with an implicit output",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("Einsum", [p("a", [1, 4]), p("b", [4, 3])], { equation: "ij,jk" }),
    shape: [1, 3],
  }),
});
add({
  name: "Reshape, Flatten, Transpose, Squeeze, Unsqueeze",
  dtype: "float64",
  build: (m, p) => {
    const r = m.op("Reshape", [p("x", [2, 3, 4]), m.ints([0, -1, 2])]);
    const t = m.op("Transpose", [r], { perm: [2, 0, 1] });
    const u = m.op("Unsqueeze", [t, m.ints([1])]);
    const s = m.op("Squeeze", [u, m.ints([1])]);
    return { output: m.op("Flatten", [s], { axis: 1 }), shape: [2, 12] };
  },
});
add({
  name: "Concat, Split, Slice",
  dtype: "float64",
  build: (m, p) => {
    const c = m.op("Concat", [p("a", [2, 3]), p("b", [2, 2])], { axis: 1 });
    const [s0, s1] = m.node("Split", [c, m.ints([2, 3])], { axis: 1 }, 2);
    const sl = m.op("Slice", [s1!, m.ints([1]), m.ints([3]), m.ints([1])]);
    return { output: m.op("Concat", [s0!, sl], { axis: 1 }), shape: [2, 4] };
  },
});
add({
  name: "Slice with steps 2 and -2 and a unit step",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("Slice", [
      p("x", [3, 7, 6]),
      m.ints([0, 1, 5]),
      m.ints([3, 6, 0]),
      m.ints([0, 1, 2]),
      m.ints([1, 2, -2]),
    ]),
    shape: [3, 3, 3],
  }),
});
add({
  name: "Slice reversed (step -1, as torch.flip exports)",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("Slice", [p("x", [2, 5]), m.ints([-1]), m.ints([-(2 ** 62)]), m.ints([1]), m.ints([-1])]),
    shape: [2, 5],
  }),
});
add({
  name: "Pad (constant) with a crop on another axis",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("Pad", [
      p("x", [2, 3, 4]),
      m.ints([0, 1, -1, 1, 2, 0]),
      m.constant(tensorFromNumbers("float64", [], [0.5])),
    ]),
    shape: [3, 6, 3],
  }),
});
add({
  name: "Split by num_outputs, Pad with axes (opset 21)",
  dtype: "float64",
  opset: 21,
  build: (m, p) => {
    const [a, b] = m.node("Split", [p("x", [2, 6])], { axis: 1, num_outputs: 2 }, 2);
    const padded = m.op("Pad", [
      b!,
      m.ints([1, 0]),
      m.constant(tensorFromNumbers("float64", [], [0])),
      m.ints([1]),
    ]);
    const window = m.op("Slice", [padded, m.ints([0]), m.ints([3]), m.ints([1])]);
    return { output: m.op("Mul", [a!, window]), shape: [2, 3] };
  },
});
add({
  name: "Gather as an embedding lookup, repeated indices",
  dtype: "float64",
  build: (m, p) => {
    const ids = m.constant(tensorFromNumbers("int64", [2, 3], [0, 2, 2, 4, -1, 0]));
    return { output: m.op("Gather", [p("table", [5, 3]), ids]), shape: [2, 3, 3] };
  },
});
add({
  name: "Gather on axis 1",
  dtype: "float64",
  build: (m, p) => {
    const ids = m.constant(tensorFromNumbers("int64", [2], [2, 0]));
    return { output: m.op("Gather", [p("x", [2, 3, 4]), ids], { axis: 1 }), shape: [2, 2, 4] };
  },
});
add({
  name: "Cast float64 to float32",
  dtype: "float32",
  build: (m, p) => ({
    output: m.op("Cast", [m.op("Cast", [p("x", [3, 4])], { to: 11 })], { to: 1 }),
    shape: [3, 4],
  }),
});
add({
  name: "ReduceSum with axes input, keepdims 0",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("ReduceSum", [p("x", [2, 3, 4]), m.ints([1])], { keepdims: 0 }),
    shape: [2, 4],
  }),
});
add({
  name: "ReduceMean with axes attribute (opset 17)",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("ReduceMean", [p("x", [2, 3, 4])], { axes: [0, 2], keepdims: 1 }),
    shape: [1, 3, 1],
  }),
});
add({
  name: "ReduceMean with axes input (opset 18)",
  dtype: "float64",
  opset: 18,
  build: (m, p) => ({
    output: m.op("ReduceMean", [p("x", [2, 3, 4]), m.ints([-1])], { keepdims: 0 }),
    shape: [2, 3],
  }),
});
add({
  name: "LayerNormalization over the last two axes",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("LayerNormalization", [p("x", [2, 3, 4]), p("scale", [3, 4]), p("bias", [3, 4])], {
      axis: 1,
    }),
    shape: [2, 3, 4],
  }),
});
add({
  name: "InstanceNormalization",
  dtype: "float32",
  build: (m, p) => ({
    output: m.op("InstanceNormalization", [p("x", [2, 3, 4, 3]), p("scale", [3]), p("bias", [3])], {
      epsilon: { float: 1e-5 },
    }),
    shape: [2, 3, 4, 3],
  }),
});
add({
  name: "BatchNormalization in training mode",
  dtype: "float64",
  build: (m, p) => {
    m.initializer("bn.running_mean", tensorFromNumbers("float64", [3], [0, 0, 0]));
    m.initializer("bn.running_var", tensorFromNumbers("float64", [3], [1, 1, 1]));
    return {
      output: m.op(
        "BatchNormalization",
        [p("x", [4, 3, 2, 2]), p("scale", [3]), p("bias", [3]), "bn.running_mean", "bn.running_var"],
        {
          epsilon: { float: 1e-5 },
        },
      ),
      shape: [4, 3, 2, 2],
    };
  },
});
add({
  name: "Where and Expand",
  dtype: "float64",
  build: (m, p) => {
    const mask = m.constant(tensorFromNumbers("bool", [3, 1], [1, 0, 1]));
    const e = m.op("Expand", [p("b", [1, 4]), m.ints([3, 4])]);
    return { output: m.op("Where", [mask, p("a", [3, 4]), e]), shape: [3, 4] };
  },
});
add({
  name: "Conv 2-D with pads, strides, dilations",
  dtype: "float32",
  build: (m, p) => ({
    output: m.op("Conv", [p("x", [2, 2, 6, 5]), p("w", [3, 2, 3, 2]), p("b", [3])], {
      pads: [1, 0, 2, 1],
      strides: [2, 1],
      dilations: [1, 2],
    }),
    shape: [2, 3, 4, 4],
  }),
});
add({
  name: "Conv 2-D with groups",
  dtype: "float32",
  build: (m, p) => ({
    output: m.op("Conv", [p("x", [1, 4, 4, 4]), p("w", [6, 2, 3, 3])], { pads: [1, 1, 1, 1], group: 2 }),
    shape: [1, 6, 4, 4],
  }),
});
add({
  name: "Conv 1-D with stride 2",
  dtype: "float32",
  build: (m, p) => ({
    output: m.op("Conv", [p("x", [2, 2, 7]), p("w", [3, 2, 3])], { strides: [2] }),
    shape: [2, 3, 3],
  }),
});
add({
  name: "ConvTranspose 2-D, stride 2, pads, output_padding, groups",
  dtype: "float32",
  build: (m, p) => ({
    output: m.op("ConvTranspose", [p("x", [2, 4, 3, 3]), p("w", [4, 3, 3, 2]), p("b", [6])], {
      strides: [2, 2],
      pads: [1, 0, 1, 1],
      output_padding: [1, 0],
      group: 2,
    }),
    shape: [2, 6, 6, 5],
  }),
});
add({
  name: "ConvTranspose 1-D with dilation and output_shape",
  dtype: "float32",
  build: (m, p) => ({
    output: m.op("ConvTranspose", [p("x", [1, 2, 4]), p("w", [2, 3, 3])], {
      dilations: [2],
      strides: [2],
      output_shape: [10],
    }),
    shape: [1, 3, 10],
  }),
});
add({
  name: "MaxPool 2x2 stride 2",
  dtype: "float32",
  distinct: true,
  build: (m, p) => ({
    output: m.op("MaxPool", [p("x", [2, 2, 4, 4])], { kernel_shape: [2, 2], strides: [2, 2] }),
    shape: [2, 2, 2, 2],
  }),
});
add({
  name: "AveragePool 3x3 stride 2 with padding, count_include_pad 0",
  dtype: "float32",
  build: (m, p) => ({
    output: m.op("AveragePool", [p("x", [1, 2, 5, 5])], {
      kernel_shape: [3, 3],
      strides: [2, 2],
      pads: [1, 1, 1, 1],
    }),
    shape: [1, 2, 3, 3],
  }),
});
add({
  name: "AveragePool 2x2 stride 2, ceil_mode over an odd size",
  dtype: "float32",
  build: (m, p) => ({
    output: m.op("AveragePool", [p("x", [1, 2, 5, 5])], {
      kernel_shape: [2, 2],
      strides: [2, 2],
      ceil_mode: 1,
    }),
    shape: [1, 2, 3, 3],
  }),
});
add({
  name: "MaxPool 3x3 stride 2 with padding and ceil_mode",
  dtype: "float32",
  distinct: true,
  build: (m, p) => ({
    output: m.op("MaxPool", [p("x", [1, 2, 6, 6])], {
      kernel_shape: [3, 3],
      strides: [2, 2],
      pads: [1, 1, 1, 1],
      ceil_mode: 1,
    }),
    shape: [1, 2, 4, 4],
  }),
});
add({
  name: "GlobalAveragePool",
  dtype: "float32",
  build: (m, p) => ({ output: m.op("GlobalAveragePool", [p("x", [2, 3, 3, 2])]), shape: [2, 3, 1, 1] }),
});
add({
  name: "cross-entropy with label smoothing over logits",
  dtype: "float64",
  build: (_m, p) => ({ output: p("logits", [4, 3]), shape: [4, 3] }),
  loss: { type: "cross_entropy", labelSmoothing: 0.1 },
  target: () => tensorFromNumbers("int64", [4], [0, 2, 1, 2]),
});
add({
  name: "BCE with logits",
  dtype: "float64",
  build: (m, p) => ({
    output: m.op("Mul", [p("logits", [4, 3]), m.constant(tensorFromNumbers("float64", [], [4]))]),
    shape: [4, 3],
  }),
  loss: { type: "bce_with_logits" },
  target: (shape) =>
    tensorFromNumbers(
      "float64",
      shape,
      Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
    ),
});

/** The case's model, and the generator that made its parameters (it goes on to draw the target). */
function buildCase(c: Case): { model: LoadedModel; output: string; shape: number[]; random: () => number } {
  const random = seededRandom(
    [...c.name].reduce((h, ch) => Math.imul(h ^ ch.charCodeAt(0), 16777619), 2166136261),
  );
  const m = new ModelBuilder(c.opset ?? 17);
  const spaced = (name: string, dims: number[]) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: n }, (_, i) => (2 * i) / n - 1);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [values[i], values[j]] = [values[j]!, values[i]!];
    }
    return m.initializer(name, tensorFromNumbers(c.dtype, dims, values));
  };
  const p = (name: string, dims: number[], scale = 1) =>
    c.distinct ? spaced(name, dims) : m.random(name, c.dtype, dims, random, scale);
  const { output, shape } = c.build(m, p);
  m.output(output, c.dtype, shape as Dim[]);
  return { model: loadModel(m.bytes()), output, shape, random };
}

/** Operators of the model that a gradient flows through from some parameter back to it. */
function differentiatedOperators(model: LoadedModel): Set<string> {
  const fromParameter = new Set(
    [...model.initializers].filter(([, t]) => isFloat(t.dtype)).map(([name]) => name),
  );
  const operators = new Set<string>();
  for (const node of model.nodes) {
    if (gradientRules[node.opType] === NON_DIFFERENTIABLE) continue;
    if (!node.inputs.some((i) => fromParameter.has(i))) continue;
    operators.add(node.opType);
    for (const o of node.outputs) fromParameter.add(o);
  }
  return operators;
}

describe("every gradient rule matches central finite differences", () => {
  for (const c of cases) {
    it(`${c.name} (${c.dtype})`, async () => {
      const { model, output, shape, random } = buildCase(c);
      const count = shape.reduce((a, b) => a * b, 1);
      const target =
        c.target?.(shape) ??
        tensorFromNumbers(
          c.dtype,
          shape,
          Array.from({ length: count }, () => random() * 2 - 1),
        );
      const double = c.dtype === "float64";
      const mismatches = await checkGradients(model, {
        modelOutput: output,
        loss: c.loss ?? { type: "mse" },
        batch: c.batch ?? new Map(),
        target,
        h: double ? 1e-6 : c.distinct ? 1e-3 : 1e-2,
        atol: double ? 1e-8 : 2e-3,
        rtol: double ? 1e-6 : 2e-2,
      });
      assert.deepEqual(mismatches.slice(0, 5), []);
    });
  }
});

it("every differentiable operator of the gradient table has a finite-difference case above", () => {
  const covered = new Set(cases.flatMap((c) => [...differentiatedOperators(buildCase(c).model)]));
  const uncovered = Object.entries(gradientRules)
    .filter(([opType, entry]) => entry !== NON_DIFFERENTIABLE && !covered.has(opType))
    .map(([opType]) => opType);
  assert.deepEqual(uncovered, []);
});
