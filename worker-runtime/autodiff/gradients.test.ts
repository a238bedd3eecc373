import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AttributeValue } from "../onnx/attributes.ts";
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
unaryCase("Sin", "float64");
unaryCase("Cos", "float64");
unaryCase("Selu", "float32", { alpha: { float: 1.5 }, gamma: { float: 1.2 } });
unaryCase("Celu", "float32", { alpha: { float: 0.8 } });
unaryCase("Softsign", "float32");
add({
  name: "Mish (opset 18)",
  // onnxruntime fuses x * sigmoid(x) into QuickGelu, which it implements in float32 only.
  dtype: "float32",
  opset: 18,
  build: (m, p) => ({ output: m.op("Mish", [p("x", [3, 4])]), shape: [3, 4] }),
});
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
  name: "Einsum summing letters inside one operand: bnd->bd, bnd,de->be and ij->",
  dtype: "float64",
  build: (m, p) => {
    const pooled = m.op("Einsum", [p("x", [2, 3, 4])], { equation: "bnd->bd" });
    const projected = m.op("Einsum", [p("y", [2, 3, 4]), p("w", [4, 5])], { equation: "bnd,de->be" });
    const total = m.op("Einsum", [p("z", [3, 2])], { equation: "ij->" });
    const joined = m.op("Add", [m.op("ReduceSum", [pooled, m.ints([1])], { keepdims: 0 }), total]);
    return {
      output: m.op("Add", [joined, m.op("ReduceSum", [projected, m.ints([1])], { keepdims: 0 })]),
      shape: [2],
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
for (const mode of ["reflect", "edge"]) {
  add({
    name: `Pad (${mode}) on two axes, unequal sides`,
    dtype: "float64",
    build: (m, p) => {
      // Squared, so that each copied element's gradient depends on where it landed.
      const padded = m.op("Pad", [p("x", [2, 4, 5]), m.ints([0, 2, 1, 0, 1, 3])], { mode });
      return { output: m.op("Mul", [padded, padded]), shape: [2, 7, 9] };
    },
  });
}
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
  name: "Gather with scalar indices on axes 1 and 2 (h[:, 0] + h[:, :, -1])",
  dtype: "float64",
  build: (m, p) => {
    const x = p("x", [2, 3, 3]);
    const first = m.op("Gather", [x, m.constant(tensorFromNumbers("int64", [], [0]))], { axis: 1 });
    const last = m.op("Gather", [x, m.constant(tensorFromNumbers("int64", [], [-1]))], { axis: 2 });
    return { output: m.op("Mul", [first, last]), shape: [2, 3] };
  },
});
add({
  name: "Gather with a scalar index and an index list fed at run time",
  dtype: "float64",
  build: (m, p) => {
    const x = p("x", [2, 4, 3]);
    const one = m.op("Gather", [x, m.input("index", "int64", [])], { axis: 1 });
    const many = m.op("Gather", [x, m.input("indices", "int64", [2])], { axis: 1 });
    return { output: m.op("Add", [m.op("Unsqueeze", [one, m.ints([1])]), many]), shape: [2, 2, 3] };
  },
  batch: new Map([
    ["index", tensorFromNumbers("int64", [], [-1])],
    ["indices", tensorFromNumbers("int64", [2], [-2, 3])],
  ]),
});
add({
  name: "CumSum forward and exclusive reverse",
  dtype: "float64",
  build: (m, p) => {
    const x = p("x", [3, 4]);
    const axis = (a: number) => m.constant(tensorFromNumbers("int64", [], [a]));
    const forward = m.op("CumSum", [x, axis(1)]);
    const back = m.op("CumSum", [x, axis(0)], { exclusive: 1, reverse: 1 });
    return { output: m.op("Mul", [forward, back]), shape: [3, 4] };
  },
});
for (const op of ["ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"]) {
  add({
    name: `${op} over an axis input and over all axes (opset 18)`,
    dtype: "float64",
    opset: 18,
    build: (m, p) => {
      const x = p("x", [2, 3, 4]);
      const some = m.op(op, [x, m.ints([1])], { keepdims: 0 });
      return { output: m.op("Add", [some, m.op(op, [x], { keepdims: 0 })]), shape: [2, 4] };
    },
  });
}
for (const opset of [17, 18]) {
  add({
    name: `ReduceProd over an axis and over all axes, rows with no, one and two zeros (opset ${opset})`,
    dtype: "float64",
    opset,
    build: (m, p) => {
      // Exact zeros where the mask has them: row 0 none, row 1 one, row 2 two (in x's 3 x 4).
      const mask = m.constant(tensorFromNumbers("float64", [3, 4], [1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 1]));
      const x = m.op("Mul", [p("x", [3, 4]), mask]);
      const rows =
        opset >= 18
          ? m.op("ReduceProd", [x, m.ints([1])], { keepdims: 0 })
          : m.op("ReduceProd", [x], { axes: [1], keepdims: 0 });
      const all = m.op("ReduceProd", [p("y", [2, 3])], { keepdims: 0 });
      return { output: m.op("Add", [rows, all]), shape: [3] };
    },
  });
}
add({
  name: "GatherElements and ScatterElements (none and add) on axis 1 (opset 18)",
  dtype: "float64",
  opset: 18,
  build: (m, p) => {
    const index = m.constant(tensorFromNumbers("int64", [2, 2], [0, -1, 2, 0]));
    const repeated = m.constant(tensorFromNumbers("int64", [2, 2], [1, 1, 0, 2]));
    const picked = m.op("GatherElements", [p("x", [2, 3]), index], { axis: 1 });
    const written = m.op("ScatterElements", [p("data", [2, 3]), index, picked], { axis: 1 });
    const added = m.op("ScatterElements", [written, repeated, p("u", [2, 2])], { axis: 1, reduction: "add" });
    return { output: m.op("Mul", [added, added]), shape: [2, 3] };
  },
});
add({
  name: "TopK largest and smallest, on the last axis and on axis 0",
  dtype: "float64",
  build: (m, p) => {
    const k = (n: number) => m.constant(tensorFromNumbers("int64", [1], [n]));
    const [largest] = m.node("TopK", [p("x", [3, 5]), k(2)], {}, 2);
    const [smallest] = m.node("TopK", [p("y", [4, 3]), k(3)], { axis: 0, largest: 0 }, 2);
    const summed = m.op("ReduceSum", [smallest!, m.ints([0])], { keepdims: 0 });
    return {
      output: m.op("Add", [m.op("ReduceSum", [largest!, m.ints([1])], { keepdims: 0 }), summed]),
      shape: [3],
    };
  },
});
add({
  name: "GatherND and ScatterND (none and add)",
  dtype: "float64",
  build: (m, p) => {
    const rows = m.constant(tensorFromNumbers("int64", [2, 1], [2, 0]));
    const cells = m.constant(tensorFromNumbers("int64", [3, 2], [0, 1, 2, 0, 0, 1]));
    const picked = m.op("GatherND", [p("x", [3, 2, 3]), rows]);
    const written = m.op("ScatterND", [p("data", [3, 2, 3]), rows, picked]);
    const added = m.op("ScatterND", [written, cells, p("u", [3, 3])], { reduction: "add" });
    return { output: m.op("Mul", [added, added]), shape: [3, 2, 3] };
  },
});
add({
  name: "DepthToSpace (DCR and CRD) and SpaceToDepth",
  dtype: "float64",
  build: (m, p) => {
    const x = p("x", [2, 8, 2, 3]);
    const dcr = m.op("DepthToSpace", [x], { blocksize: 2 });
    const crd = m.op("DepthToSpace", [x], { blocksize: 2, mode: "CRD" });
    const back = m.op("SpaceToDepth", [m.op("Mul", [dcr, crd])], { blocksize: 2 });
    return { output: m.op("Mul", [back, x]), shape: [2, 8, 2, 3] };
  },
});
for (const opset of [18, 21]) {
  add({
    name: `GroupNormalization with ${opset === 18 ? "per-group" : "per-channel"} scale and bias (opset ${opset})`,
    // Opset 21 computes the statistics in float32 (stash_type 1) whatever the input type.
    dtype: opset === 18 ? "float64" : "float32",
    opset,
    build: (m, p) => {
      const groups = 2;
      const params = opset === 18 ? groups : 6;
      return {
        output: m.op(
          "GroupNormalization",
          [p("x", [2, 6, 2, 3]), p("scale", [params]), p("bias", [params])],
          {
            num_groups: groups,
            epsilon: { float: 1e-3 },
          },
        ),
        shape: [2, 6, 2, 3],
      };
    },
  });
}
const scales = (values: number[]) => ({ scales: values });
for (const [label, attrs, resized] of [
  [
    "nearest x2 (nn.Upsample)",
    { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" },
    scales([1, 1, 2, 2]),
  ],
  ["nearest to sizes 5x7, round_prefer_floor, half_pixel", { mode: "nearest" }, { sizes: [2, 2, 5, 7] }],
  ["linear x2, half_pixel (bilinear)", { mode: "linear" }, scales([1, 1, 2, 2])],
  [
    "linear x1.5 by columns, align_corners",
    { mode: "linear", coordinate_transformation_mode: "align_corners" },
    scales([1, 1, 1, 1.5]),
  ],
  [
    "linear x3 by rows, pytorch_half_pixel",
    { mode: "linear", coordinate_transformation_mode: "pytorch_half_pixel" },
    scales([1, 1, 3, 1]),
  ],
  [
    "linear x2 by rows, x0.5 by columns, asymmetric",
    { mode: "linear", coordinate_transformation_mode: "asymmetric" },
    scales([1, 1, 2, 0.5]),
  ],
  [
    "cubic x2, pytorch_half_pixel (nn.Upsample bicubic)",
    { mode: "cubic", coordinate_transformation_mode: "pytorch_half_pixel" },
    scales([1, 1, 2, 2]),
  ],
  [
    "cubic x2.5 by columns, align_corners",
    { mode: "cubic", coordinate_transformation_mode: "align_corners" },
    scales([1, 1, 1, 2.5]),
  ],
  [
    "cubic to sizes 4x3, exclude_outside, a = -0.5",
    { mode: "cubic", exclude_outside: 1, cubic_coeff_a: { float: -0.5 } },
    { sizes: [2, 2, 4, 3] },
  ],
] as const) {
  add({
    name: `Resize ${label}`,
    dtype: "float32",
    build: (m, p) => {
      const x = p("x", [2, 2, 3, 4]);
      const inputs =
        "sizes" in resized
          ? [x, "", "", m.ints([...resized.sizes])]
          : [x, "", m.constant(tensorFromNumbers("float32", [4], [...resized.scales]))];
      const y = m.op("Resize", inputs, { ...attrs });
      const shape =
        "sizes" in resized
          ? [...resized.sizes]
          : [2, 2, 3, 4].map((d, i) => Math.floor(d * resized.scales[i]!));
      return { output: y, shape };
    },
  });
}
// Sampling points (x, y in pixels of a 4 × 5 image) whose cells the finite-difference steps stay
// in, some outside the image (zeros padding reads 0 there, border padding clamps them), and none
// near a rounding boundary for nearest.
const SAMPLED = [
  [-0.7, -0.35],
  [0.3, 0.65],
  [1.2, 1.3],
  [2.7, 2.4],
  [3.35, 3.25],
  [4.3, 2.7],
  [0.8, 0.3],
  [2.25, 1.75],
  [3.7, 3.75],
];
for (const [label, attrs] of [
  ["bilinear, zeros (F.grid_sample's default)", {}],
  ["bilinear, border, align_corners", { padding_mode: "border", align_corners: 1 }],
  ["nearest, zeros", { mode: "nearest" }],
  ["bilinear, zeros, align_corners", { align_corners: 1 }],
] as Array<[string, Record<string, AttributeValue>]>) {
  add({
    name: `GridSample ${label}`,
    dtype: "float32",
    build: (m, p) => {
      const [height, width] = [4, 5];
      const corners = attrs.align_corners === 1;
      const normalized = (pixel: number, size: number) =>
        (pixel - (size - 1) / 2) / (corners ? (size - 1) / 2 : size / 2);
      const centers = SAMPLED.flatMap(([x, y]) => [normalized(x!, width), normalized(y!, height)]);
      const grid = m.op("Add", [
        m.op("Mul", [p("offsets", [1, 3, 3, 2]), m.constant(tensorFromNumbers("float32", [], [0.04]))]),
        m.constant(tensorFromNumbers("float32", [1, 3, 3, 2], centers)),
      ]);
      return {
        output: m.op("GridSample", [p("x", [1, 2, height, width]), grid], attrs),
        shape: [1, 2, 3, 3],
      };
    },
  });
}
for (const [opType, gates, attrs, label] of [
  ["LSTM", 4, {}, "with initial states"],
  ["LSTM", 4, { direction: "bidirectional" }, "bidirectional"],
  ["GRU", 3, { linear_before_reset: 1 }, "linear_before_reset (as PyTorch exports it)"],
  ["GRU", 3, { direction: "reverse" }, "reverse"],
  [
    "RNN",
    1,
    { activations: { strings: ["Relu", "Tanh"] }, direction: "bidirectional" },
    "Relu and Tanh, bidirectional",
  ],
  ["LSTM", 4, { direction: "bidirectional" }, "bidirectional, sequence_lens"],
  ["GRU", 3, { linear_before_reset: 1, direction: "reverse" }, "reverse, sequence_lens"],
] as Array<[string, number, Record<string, AttributeValue>, string]>) {
  add({
    name: `${opType} ${label}, unrolled for training`,
    dtype: "float64",
    build: (m, p) => {
      const [steps, batch, features, hidden] = [3, 2, 3, 2];
      const dirs = attrs.direction === "bidirectional" ? 2 : 1;
      const x = p("x", [steps, batch, features]);
      const inputs = [
        x,
        p("w", [dirs, gates * hidden, features]),
        p("r", [dirs, gates * hidden, hidden]),
        p("b", [dirs, 2 * gates * hidden]),
        label.endsWith("sequence_lens") ? m.constant(tensorFromNumbers("int32", [batch], [1, steps])) : "",
        ...(label === "with initial states"
          ? [p("h0", [dirs, batch, hidden]), p("c0", [dirs, batch, hidden])]
          : []),
      ];
      const [y, yH] = m.node(opType, inputs, { hidden_size: hidden, ...attrs }, 2);
      const last = m.op("ReduceSum", [yH!, m.ints([0, 1, 2])], { keepdims: 0 });
      const shape = [steps, dirs, batch, hidden];
      return { output: m.op("Add", [m.op("Mul", [y!, y!]), last]), shape };
    },
  });
}
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
  name: "ConvTranspose 2-D, stride 2, pads, output_padding, one group",
  dtype: "float32",
  build: (m, p) => ({
    output: m.op("ConvTranspose", [p("x", [2, 3, 3, 3]), p("w", [3, 4, 3, 2])], {
      strides: [2, 2],
      pads: [1, 0, 1, 1],
      output_padding: [1, 0],
    }),
    shape: [2, 4, 6, 5],
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
// Disjoint windows whose last one hangs over the end (ceil_mode) or into padding, or that leave
// the end uncovered: MaxUnpool's inferred output size must not exceed x's.
add({
  name: "MaxPool 2x2 stride 2, ceil_mode over an odd size",
  dtype: "float32",
  distinct: true,
  build: (m, p) => ({
    output: m.op("MaxPool", [p("x", [1, 2, 5, 5])], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }),
    shape: [1, 2, 3, 3],
  }),
});
add({
  name: "MaxPool 2x2 stride 2 with padding",
  dtype: "float32",
  distinct: true,
  build: (m, p) => ({
    output: m.op("MaxPool", [p("x", [1, 2, 5, 5])], {
      kernel_shape: [2, 2],
      strides: [2, 2],
      pads: [1, 1, 1, 1],
    }),
    shape: [1, 2, 3, 3],
  }),
});
add({
  name: "MaxPool 2x2 stride 3 over an uncovered edge",
  dtype: "float32",
  distinct: true,
  build: (m, p) => ({
    output: m.op("MaxPool", [p("x", [1, 2, 7, 6])], { kernel_shape: [2, 2], strides: [3, 3] }),
    shape: [1, 2, 2, 2],
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
