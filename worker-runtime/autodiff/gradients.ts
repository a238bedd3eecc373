import { normalizeAxis } from "../onnx/dims.ts";
import { isFloat, onnxDataType } from "../onnx/dtypes.ts";
import { OnnxError } from "../onnx/errors.ts";
import type { Dim } from "../onnx/model.ts";
import {
  convOutputSpatial,
  convTransposeGeometry,
  einsumTerms,
  padAmounts,
  reductionAxes,
  type SliceRange,
  sliceRanges,
} from "../onnx/shape-rules.ts";
import { type GradientContext, type GradientRule, reducedCount, unbroadcast } from "./gradient-context.ts";

// One entry per ONNX operator: given the forward node and the gradients of its outputs, emit the
// nodes computing the gradients of its inputs (PyTorch's derivatives.yaml, tinygrad's gradient.py).
// Operators that change nothing differentiable (shape arithmetic, comparisons) are marked so.

export const NON_DIFFERENTIABLE = "non-differentiable";
export type GradientEntry = GradientRule | typeof NON_DIFFERENTIABLE;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

function dtypeOf(c: GradientContext): "float32" | "float64" {
  return c.yInfo(0).dtype === "float64" ? "float64" : "float32";
}

function k(c: GradientContext, value: number): string {
  return c.g.scalar(value, dtypeOf(c));
}

/** dy * f, for elementwise operators whose derivative is a tensor f. */
function times(c: GradientContext, derivative: string): string {
  return c.g.op("Mul", [c.dy[0]!, derivative]);
}

function unary(derivative: (c: GradientContext) => string): GradientRule {
  return (c) => [times(c, derivative(c))];
}

/** Gradient for input i of a broadcasting binary operator, reduced back to its shape. */
function toInput(c: GradientContext, i: number, grad: string): string | undefined {
  if (!c.wants[i]) return undefined;
  return unbroadcast(c.g, grad, c.yInfo(0).shape, c.xInfo(i).shape);
}

/** Gradient of a pure data movement: reshape the output gradient back to the input's shape. */
const reshapeBack: GradientRule = (c) => [c.g.reshape(c.dy[0]!, c.g.shapeOf(c.x[0]!, c.xInfo(0).shape))];

function reduceSumLike(
  c: GradientContext,
  axesAsInputSince: number,
): { grad: string; axes: number[] | "all" } {
  const rank = c.xInfo(0).shape.length;
  const given = reductionAxes({ node: c.node, value: (i) => c.value(i) }, axesAsInputSince, c.opset);
  const axes = given?.length ? given.map((a) => normalizeAxis(a, rank)) : "all";
  const keep = c.node.attrs.int("keepdims", 1) === 1;
  const dy = c.dy[0]!;
  const restored = keep || axes === "all" ? dy : c.g.op("Unsqueeze", [dy, c.g.ints(axes)]);
  return { grad: c.g.op("Expand", [restored, c.g.shapeOf(c.x[0]!, c.xInfo(0).shape)]), axes };
}

function isNoop(c: GradientContext, axesAsInputSince: number): boolean {
  const given = reductionAxes({ node: c.node, value: (i) => c.value(i) }, axesAsInputSince, c.opset);
  return (given === undefined || given.length === 0) && c.node.attrs.int("noop_with_empty_axes", 0) === 1;
}

const gemm: GradientRule = (c) => {
  const { g } = c;
  const [a, b, bias] = c.x;
  const dy = c.dy[0]!;
  const tA = c.node.attrs.int("transA", 0);
  const tB = c.node.attrs.int("transB", 0);
  const alpha = c.node.attrs.float("alpha", 1);
  const beta = c.node.attrs.float("beta", 1);
  const scaled = { alpha: { float: alpha } };
  const da = c.wants[0]
    ? tA
      ? g.op("Gemm", [b!, dy], { ...scaled, transA: tB, transB: 1 })
      : g.op("Gemm", [dy, b!], { ...scaled, transA: 0, transB: 1 - tB })
    : undefined;
  const db = c.wants[1]
    ? tB
      ? g.op("Gemm", [dy, a!], { ...scaled, transA: 1, transB: tA })
      : g.op("Gemm", [a!, dy], { ...scaled, transA: 1 - tA, transB: 0 })
    : undefined;
  let dc: string | undefined;
  if (bias && c.wants[2]) {
    const summed = unbroadcast(g, dy, c.yInfo(0).shape, c.xInfo(2).shape);
    dc = beta === 1 ? summed : g.op("Mul", [summed, k(c, beta)]);
  }
  return [da, db, dc];
};

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

const matMul: GradientRule = (c) => {
  const { g } = c;
  let [a, b] = c.x as [string, string];
  let dy = c.dy[0]!;
  let aShape = c.xInfo(0).shape;
  let bShape = c.xInfo(1).shape;
  let yShape = c.yInfo(0).shape;
  // Vectors are promoted to matrices as numpy does, and the gradients squeezed back.
  if (aShape.length === 1) {
    a = g.op("Unsqueeze", [a, g.ints([0])]);
    dy = g.op("Unsqueeze", [dy, g.ints([-2])]);
    aShape = [1, ...aShape];
    yShape = [...yShape.slice(0, -1), 1, ...yShape.slice(-1)];
  }
  if (bShape.length === 1) {
    b = g.op("Unsqueeze", [b, g.ints([1])]);
    dy = g.op("Unsqueeze", [dy, g.ints([-1])]);
    bShape = [...bShape, 1];
    yShape = [...yShape, 1];
  }
  // Sum over broadcast batch dims, then undo the vector promotion.
  const reduced = (grad: string, promoted: readonly Dim[]) =>
    unbroadcast(g, grad, [...yShape.slice(0, -2), ...promoted.slice(-2)], promoted);
  const restored = (grad: string, i: number) =>
    c.xInfo(i).shape.length === 1 ? g.reshape(grad, g.shapeOf(c.x[i]!, c.xInfo(i).shape)) : grad;
  let da: string | undefined;
  let db: string | undefined;
  if (c.wants[0]) {
    const product =
      bShape.length === 2 && aShape.length === 2
        ? g.op("Gemm", [dy, b], { transB: 1 })
        : g.op("MatMul", [dy, g.op("Transpose", [b], { perm: swapLastTwo(bShape.length) })]);
    da = restored(reduced(product, aShape), 0);
  }
  if (c.wants[1]) {
    const k = aShape[aShape.length - 1]!;
    const n = bShape[1]!;
    if (bShape.length === 2 && typeof k === "number" && typeof n === "number") {
      // A weight shared by every row of a batched input: fold the batch into the rows, one Gemm.
      const rows = (x: string, width: number) =>
        aShape.length === 2 ? x : g.reshape(x, g.ints([-1, width]));
      db = g.op("Gemm", [rows(a, k), rows(dy, n)], { transA: 1 });
    } else {
      db = reduced(
        g.op("MatMul", [g.op("Transpose", [a], { perm: swapLastTwo(aShape.length) }), dy]),
        bShape,
      );
    }
    db = restored(db, 1);
  }
  return [da, db];
};

/**
 * Einsum: operand i's gradient is the einsum of dy with the other operands into operand i's
 * subscripts. Letters repeated within a term (diagonals) or summed inside one operand only are
 * outside this rule.
 */
const einsumRule: GradientRule = (c) => {
  const { inputs, output } = einsumTerms(c.node);
  return inputs.map((term, i) => {
    if (!c.wants[i]) return undefined;
    const others = inputs.filter((_, j) => j !== i);
    const reachable = new Set([...output, ...others.join("")]);
    if (new Set(term).size !== term.length || [...term].some((l) => !reachable.has(l))) {
      throw new OnnxError(
        "UNSUPPORTED_OPERATOR",
        `the gradient of Einsum "${inputs.join(",")}->${output}" needs each letter of operand ${i} once and outside it too`,
        c.node.name,
      );
    }
    const equation = `${[output, ...others].join(",")}->${term}`;
    const grad = c.g.op("Einsum", [c.dy[0]!, ...c.x.filter((_, j) => j !== i)], { equation });
    // A size-1 axis broadcast against a larger one sums back like any broadcast.
    const full = [...term].map((letter) => {
      const at = inputs.findIndex((t, j) => j !== i && t.includes(letter));
      return at >= 0
        ? c.xInfo(at).shape[inputs[at]!.indexOf(letter)]!
        : c.yInfo(0).shape[output.indexOf(letter)]!;
    });
    return unbroadcast(c.g, grad, full, c.xInfo(i).shape);
  });
};

const softmax: GradientRule = (c) => {
  const axis = c.node.attrs.int("axis", -1);
  const y = c.y[0]!;
  const dy = c.dy[0]!;
  const dot = c.g.reduceSum(c.g.op("Mul", [dy, y]), [axis], true);
  return [c.g.op("Mul", [y, c.g.op("Sub", [dy, dot])])];
};

const logSoftmax: GradientRule = (c) => {
  const axis = c.node.attrs.int("axis", -1);
  const dy = c.dy[0]!;
  const total = c.g.reduceSum(dy, [axis], true);
  return [c.g.op("Sub", [dy, c.g.op("Mul", [c.g.op("Exp", [c.y[0]!]), total])])];
};

const gelu: GradientRule = (c) => {
  const { g } = c;
  const x = c.x[0]!;
  if (c.node.attrs.string("approximate", "none") === "tanh") {
    // y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
    const x2 = g.op("Mul", [x, x]);
    const u = g.op("Mul", [
      g.op("Mul", [x, g.op("Add", [k(c, 1), g.op("Mul", [x2, k(c, 0.044715)])])]),
      k(c, SQRT_2_OVER_PI),
    ]);
    const t = g.op("Tanh", [u]);
    const du = g.op("Mul", [
      g.op("Add", [k(c, 1), g.op("Mul", [x2, k(c, 3 * 0.044715)])]),
      k(c, SQRT_2_OVER_PI),
    ]);
    const sech2 = g.op("Sub", [k(c, 1), g.op("Mul", [t, t])]);
    const left = g.op("Mul", [g.op("Add", [k(c, 1), t]), k(c, 0.5)]);
    const right = g.op("Mul", [g.op("Mul", [g.op("Mul", [x, k(c, 0.5)]), sech2]), du]);
    return [times(c, g.op("Add", [left, right]))];
  }
  // d/dx x Phi(x) = Phi(x) + x phi(x)
  const cdf = g.op("Mul", [
    g.op("Add", [k(c, 1), g.op("Erf", [g.op("Mul", [x, k(c, Math.SQRT1_2)])])]),
    k(c, 0.5),
  ]);
  const pdf = g.op("Mul", [
    g.op("Exp", [g.op("Mul", [g.op("Mul", [x, x]), k(c, -0.5)])]),
    k(c, INV_SQRT_2PI),
  ]);
  return [times(c, g.op("Add", [cdf, g.op("Mul", [x, pdf])]))];
};

const pow: GradientRule = (c) => {
  const { g } = c;
  const [x, p] = c.x as [string, string];
  const exponent = c.value(1);
  let dx: string | undefined;
  if (c.wants[0]) {
    const e = exponent?.values.length === 1 ? exponent.values[0] : undefined;
    let derivative: string;
    if (e === 2) derivative = g.op("Mul", [x, k(c, 2)]);
    else if (typeof e === "number") derivative = g.op("Mul", [g.op("Pow", [x, k(c, e - 1)]), k(c, e)]);
    else derivative = g.op("Mul", [g.op("Pow", [x, g.op("Sub", [p, k(c, 1)])]), p]);
    dx = toInput(c, 0, times(c, derivative));
  }
  const dp = c.wants[1] ? toInput(c, 1, times(c, g.op("Mul", [c.y[0]!, g.op("Log", [x])]))) : undefined;
  return [dx, dp];
};

const layerNormalization: GradientRule = (c) => {
  const { g } = c;
  const [x, scale, bias] = c.x as [string, string, string | undefined];
  const shape = c.xInfo(0).shape;
  const rank = shape.length;
  const axis = normalizeAxis(c.node.attrs.int("axis", -1), rank);
  const normAxes = Array.from({ length: rank - axis }, (_, i) => axis + i);
  const leadAxes = Array.from({ length: axis }, (_, i) => i);
  const dy = c.dy[0]!;
  // Mean and InvStdDev are outputs the training-mode rewrite asks the forward node for.
  const asInput = (t: string) =>
    c.yInfo(1).dtype === c.xInfo(0).dtype ? t : g.op("Cast", [t], { to: onnxDataType[c.xInfo(0).dtype] });
  const mean = asInput(c.y[1]!);
  const rstd = asInput(c.y[2]!);
  const xhat = g.op("Mul", [g.op("Sub", [x, mean]), rstd]);
  const count = reducedCount(g, x, shape, mean, c.yInfo(1).shape, dtypeOf(c));
  let dx: string | undefined;
  if (c.wants[0]) {
    const dxhat = g.op("Mul", [dy, scale]);
    const meanOf = (t: string) => g.op("Div", [g.reduceSum(t, normAxes, true), count]);
    const centered = g.op("Sub", [dxhat, meanOf(dxhat)]);
    const projected = g.op("Sub", [centered, g.op("Mul", [xhat, meanOf(g.op("Mul", [dxhat, xhat]))])]);
    dx = g.op("Mul", [projected, rstd]);
  }
  const toParam = (grad: string, i: number) =>
    leadAxes.length === 0
      ? grad
      : unbroadcast(g, g.reduceSum(grad, leadAxes, false), shape.slice(axis), c.xInfo(i).shape);
  const dscale = c.wants[1] ? toParam(g.op("Mul", [dy, xhat]), 1) : undefined;
  const dbias = bias && c.wants[2] ? toParam(dy, 2) : undefined;
  return [dx, dscale, dbias];
};

/**
 * InstanceNormalization (also what GroupNorm exports to): LayerNorm's gradient over the spatial
 * axes of each (sample, channel), with the statistics recomputed (the operator outputs none).
 */
const instanceNormalization: GradientRule = (c) => {
  const { g } = c;
  const [x, scale] = c.x as [string, string];
  const shape = c.xInfo(0).shape;
  const spatial = Array.from({ length: shape.length - 2 }, (_, i) => i + 2);
  const eps = c.node.attrs.float("epsilon", 1e-5);
  const dy = c.dy[0]!;
  const sum = g.reduceSum(x, spatial, true);
  const count = reducedCount(g, x, shape, sum, [...shape.slice(0, 2), ...spatial.map(() => 1)], dtypeOf(c));
  const meanOf = (t: string) => g.op("Div", [g.reduceSum(t, spatial, true), count]);
  const centered = g.op("Sub", [x, g.op("Div", [sum, count])]);
  const rstd = g.op("Reciprocal", [
    g.op("Sqrt", [g.op("Add", [meanOf(g.op("Mul", [centered, centered])), k(c, eps)])]),
  ]);
  const xhat = g.op("Mul", [centered, rstd]);
  let dx: string | undefined;
  if (c.wants[0]) {
    const dxhat = g.op("Mul", [dy, perChannel(c, scale)]);
    const projected = g.op("Sub", [
      g.op("Sub", [dxhat, meanOf(dxhat)]),
      g.op("Mul", [xhat, meanOf(g.op("Mul", [dxhat, xhat]))]),
    ]);
    dx = g.op("Mul", [projected, rstd]);
  }
  const perChannelSum = (t: string) => g.reduceSum(t, [0, ...spatial], false);
  return [
    dx,
    c.wants[1] ? perChannelSum(g.op("Mul", [dy, xhat])) : undefined,
    c.wants[2] ? perChannelSum(dy) : undefined,
  ];
};

/** Per-channel tensors ([C]) reshaped to broadcast against [N, C, ...spatial]. */
function perChannel(c: GradientContext, name: string): string {
  const rank = c.xInfo(0).shape.length;
  return c.g.op("Unsqueeze", [name, c.g.ints(Array.from({ length: rank - 2 }, (_, i) => i + 1))]);
}

const batchNormalization: GradientRule = (c) => {
  // The inference form y = (x - mean) * scale / sqrt(var + eps) + bias, differentiable in all five
  // inputs: in training mode mean and var are batch statistics computed from x upstream.
  const { g } = c;
  const [x, scale, , mean, variance] = c.x as [string, string, string, string, string];
  const rank = c.xInfo(0).shape.length;
  const channelAxes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const expand = (t: string) => (rank > 2 ? perChannel(c, t) : t);
  const dy = c.dy[0]!;
  const eps = c.node.attrs.float("epsilon", 1e-5);
  const rstd = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [variance, k(c, eps)])])]);
  const scaledRstd = g.op("Mul", [scale, rstd]);
  const centered = g.op("Sub", [x, expand(mean)]);
  const needsSum = c.wants[2] || c.wants[3];
  const dySum = needsSum ? g.reduceSum(dy, channelAxes, false) : undefined;
  const needsDot = c.wants[1] || c.wants[4];
  const dyDot = needsDot ? g.reduceSum(g.op("Mul", [dy, centered]), channelAxes, false) : undefined;
  return [
    c.wants[0] ? g.op("Mul", [dy, expand(scaledRstd)]) : undefined,
    c.wants[1] ? g.op("Mul", [dyDot!, rstd]) : undefined,
    c.wants[2] ? dySum : undefined,
    c.wants[3] ? g.op("Neg", [g.op("Mul", [dySum!, scaledRstd])]) : undefined,
    c.wants[4]
      ? g.op("Mul", [g.op("Mul", [dyDot!, scaledRstd]), g.op("Mul", [g.op("Mul", [rstd, rstd]), k(c, -0.5)])])
      : undefined,
  ];
};

function staticSpatial(c: GradientContext, i: number): number[] {
  const shape = c.xInfo(i).shape.slice(1);
  if (!shape.every((d) => typeof d === "number")) {
    throw new OnnxError(
      "SHAPE_MISMATCH",
      `the gradient of a convolution or pool needs static channel and spatial sizes, got [${c.xInfo(i).shape}]`,
      c.node.name,
    );
  }
  return shape.slice(1);
}

interface WindowGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  /**
   * ConvTranspose pads and output_padding that land the transposed windows on the input size:
   * extra output where the last stride leaves input uncovered, extra end padding (cropping) where a
   * ceil_mode window hangs over the end.
   */
  transposePads: number[];
  outputPadding: number[];
}

function windowGeometry(c: GradientContext, kernel: number[]): WindowGeometry {
  const inSpatial = staticSpatial(c, 0);
  const outSpatial = c.yInfo(0).shape.slice(2) as number[];
  const n = kernel.length;
  const strides = c.node.attrs.ints("strides") ?? kernel.map(() => 1);
  const dilations = c.node.attrs.ints("dilations") ?? kernel.map(() => 1);
  const ceil = c.node.attrs.int("ceil_mode", 0) === 1;
  const { pads } = convOutputSpatial(
    { node: c.node, opset: c.opset, input: () => undefined, value: () => undefined, fresh: () => "" },
    inSpatial,
    kernel,
    ceil,
  );
  const shortfall = inSpatial.map(
    (size, i) =>
      size -
      (strides[i]! * (outSpatial[i]! - 1) + dilations[i]! * (kernel[i]! - 1) + 1 - pads[i]! - pads[i + n]!),
  );
  const outputPadding = shortfall.map((d) => Math.max(0, d));
  const transposePads = pads.map((p, i) => (i < n ? p : p + Math.max(0, -shortfall[i - n]!)));
  return { kernel, strides, dilations, pads, transposePads, outputPadding };
}

interface ConvGeometry {
  strides: number[];
  dilations: number[];
  pads: number[];
}

/**
 * The weight gradient of a convolution from `input` (channels `inputChannels`) to an output whose
 * gradient is `outputGrad`: dW[m, c] sums outputGrad[:, m] times input[:, c] shifted, which is itself
 * a convolution of the input (batch as channels) by outputGrad (batch as input channels), strides
 * and dilations swapped, cropped to the kernel. Groups are done one by one.
 */
function convWeightGradient(
  g: GradientContext["g"],
  input: string,
  inputChannels: number,
  outputGrad: string,
  outputChannels: number,
  group: number,
  kernel: number[],
  geometry: ConvGeometry,
): string {
  const spatialAxes = kernel.map((_, i) => i + 2);
  const batchFirst = [1, 0, ...spatialAxes];
  const oneGroup = (inputPart: string, gradPart: string) => {
    const full = g.op(
      "Conv",
      [
        g.op("Transpose", [inputPart], { perm: batchFirst }),
        g.op("Transpose", [gradPart], { perm: batchFirst }),
      ],
      { strides: geometry.dilations, dilations: geometry.strides, pads: geometry.pads },
    );
    const cropped = g.op("Slice", [full, g.ints(kernel.map(() => 0)), g.ints(kernel), g.ints(spatialAxes)]);
    return g.op("Transpose", [cropped], { perm: batchFirst });
  };
  if (group === 1) return oneGroup(input, outputGrad);
  const inputs = g.emit(
    "Split",
    [input, g.ints(new Array(group).fill(inputChannels / group))],
    { axis: 1 },
    group,
  );
  const grads = g.emit(
    "Split",
    [outputGrad, g.ints(new Array(group).fill(outputChannels / group))],
    { axis: 1 },
    group,
  );
  return g.op(
    "Concat",
    inputs.map((part, i) => oneGroup(part, grads[i]!)),
    { axis: 0 },
  );
}

function biasGradient(c: GradientContext, spatialRank: number): string | undefined {
  if (!c.x[2] || !c.wants[2]) return undefined;
  return c.g.reduceSum(c.dy[0]!, [0, ...Array.from({ length: spatialRank }, (_, i) => i + 2)], false);
}

const conv: GradientRule = (c) => {
  const { g } = c;
  const [x, w] = c.x as [string, string];
  const dy = c.dy[0]!;
  const wShape = c.xInfo(1).shape as number[];
  const kernel = wShape.slice(2);
  const geo = windowGeometry(c, kernel);
  const group = c.node.attrs.int("group", 1);
  const dx = c.wants[0]
    ? g.op("ConvTranspose", [dy, w], {
        strides: geo.strides,
        dilations: geo.dilations,
        pads: geo.transposePads,
        group,
        output_padding: geo.outputPadding,
      })
    : undefined;
  const channels = c.xInfo(0).shape[1] as number;
  const dw = c.wants[1] ? convWeightGradient(g, x, channels, dy, wShape[0]!, group, kernel, geo) : undefined;
  return [dx, dw, biasGradient(c, kernel.length)];
};

/** ConvTranspose is the adjoint of Conv: its input gradient is a Conv of dy with the same weights. */
const convTranspose: GradientRule = (c) => {
  const { g } = c;
  const [x, w] = c.x as [string, string];
  const dy = c.dy[0]!;
  const wShape = c.xInfo(1).shape as number[];
  const kernel = c.node.attrs.ints("kernel_shape") ?? wShape.slice(2);
  const geo = convTransposeGeometry(c.node, staticSpatial(c, 0), kernel);
  const group = c.node.attrs.int("group", 1);
  const dx = c.wants[0]
    ? g.op("Conv", [dy, w], { strides: geo.strides, dilations: geo.dilations, pads: geo.pads, group })
    : undefined;
  const channels = c.yInfo(0).shape[1] as number;
  const dw = c.wants[1] ? convWeightGradient(g, dy, channels, x, wShape[0]!, group, kernel, geo) : undefined;
  return [dx, dw, biasGradient(c, kernel.length)];
};

const maxPool: GradientRule = (c) => {
  // Indices is an output the training-mode rewrite asks for: flat positions in x of each maximum.
  const { g } = c;
  const x = c.x[0]!;
  const flatShape = g.ints([-1]);
  const zeros = g.op("Mul", [g.reshape(x, flatShape), k(c, 0)]);
  const scattered = g.op(
    "ScatterElements",
    [zeros, g.reshape(c.y[1]!, flatShape), g.reshape(c.dy[0]!, flatShape)],
    { axis: 0, reduction: "add" },
  );
  return [g.reshape(scattered, g.shapeOf(x, c.xInfo(0).shape))];
};

const averagePool: GradientRule = (c) => {
  const { g } = c;
  const kernel = c.node.attrs.ints("kernel_shape")!;
  const geo = windowGeometry(c, kernel);
  const channels = c.xInfo(0).shape[1] as number;
  const spatial = staticSpatial(c, 0);
  const dtype = dtypeOf(c);
  const ones = (dims: number[]) => {
    const n = dims.reduce((a, b) => a * b, 1);
    return g.constant({
      dtype,
      dims,
      data: dtype === "float64" ? new Float64Array(n).fill(1) : new Float32Array(n).fill(1),
    });
  };
  // Each output divides its window sum by a count that depends on padding, count_include_pad and
  // ceil_mode overhang. Pooling a constant image of ones finds it as (window sum) / (pooled value);
  // onnxruntime folds both at session creation.
  const image = ones([1, 1, ...spatial]);
  const pooled = g.op("AveragePool", [image], {
    kernel_shape: kernel,
    strides: geo.strides,
    pads: geo.pads,
    count_include_pad: c.node.attrs.int("count_include_pad", 0),
    ceil_mode: c.node.attrs.int("ceil_mode", 0),
  });
  const windowSums = g.op("Conv", [image, ones([1, 1, ...kernel])], {
    strides: geo.strides,
    pads: geo.transposePads,
  });
  const share = g.op("Mul", [c.dy[0]!, g.op("Div", [pooled, windowSums])]);
  return [
    g.op("ConvTranspose", [share, ones([channels, 1, ...kernel])], {
      strides: geo.strides,
      pads: geo.transposePads,
      group: channels,
      output_padding: geo.outputPadding,
    }),
  ];
};

const gather: GradientRule = (c) => {
  const { g } = c;
  const [data, indices] = c.x as [string, string];
  const dataShape = c.xInfo(0).shape;
  const rank = dataShape.length;
  const axis = normalizeAxis(c.node.attrs.int("axis", 0), rank);
  const indexRank = c.xInfo(1).shape.length;
  // Scatter-add rows of dy into zeros shaped like data with `axis` moved first.
  const toFront = [axis, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis)];
  const movedData = axis === 0 ? data : g.op("Transpose", [data], { perm: toFront });
  const zeros = g.op("Mul", [movedData, k(c, 0)]);
  const dyRank = c.yInfo(0).shape.length;
  const indexAxes = Array.from({ length: indexRank }, (_, i) => axis + i);
  const dyFront = [
    ...indexAxes,
    ...Array.from({ length: dyRank }, (_, i) => i).filter((i) => !indexAxes.includes(i)),
  ];
  const movedDy = axis === 0 ? c.dy[0]! : g.op("Transpose", [c.dy[0]!], { perm: dyFront });
  const wrapped = g.op("Where", [
    g.op("Less", [indices, g.scalar(0, c.xInfo(1).dtype)]),
    g.op("Add", [
      indices,
      g.op("Cast", [g.op("Gather", [g.op("Shape", [data]), g.ints([axis])])], {
        to: onnxDataType[c.xInfo(1).dtype],
      }),
    ]),
    indices,
  ]);
  const scattered = g.op(
    "ScatterND",
    [zeros, g.op("Unsqueeze", [g.op("Cast", [wrapped], { to: onnxDataType.int64 }), g.ints([-1])]), movedDy],
    {
      reduction: "add",
    },
  );
  const inverse = toFront.map((_, i) => toFront.indexOf(i));
  return [axis === 0 ? scattered : g.op("Transpose", [scattered], { perm: inverse })];
};

const concat: GradientRule = (c) => {
  const { g } = c;
  const rank = c.yInfo(0).shape.length;
  const axis = normalizeAxis(c.node.attrs.int("axis", 0), rank);
  const sizes = c.x.map((_, i) => c.xInfo(i).shape[axis]!);
  const splitSizes = sizes.every((s) => typeof s === "number")
    ? g.ints(sizes as number[])
    : g.op(
        "Concat",
        c.x.map((name) => g.op("Gather", [g.op("Shape", [name]), g.ints([axis])])),
        { axis: 0 },
      );
  return g
    .emit("Split", [c.dy[0]!, splitSizes], { axis }, c.x.length)
    .map((grad, i) => (c.wants[i] ? grad : undefined));
};

const split: GradientRule = (c) => {
  const { g } = c;
  const axis = normalizeAxis(c.node.attrs.int("axis", 0), c.xInfo(0).shape.length);
  const parts = c.y.map((name, i) => c.dy[i] ?? g.op("Mul", [name, k(c, 0)]));
  return [g.op("Concat", parts, { axis })];
};

/**
 * Spreads a strided slice's gradient back along one axis: zeros interleaved (Unsqueeze, Pad,
 * Reshape), reversed first for negative steps, then cropped and shifted to the first position.
 */
function unstride(c: GradientContext, grad: string, shape: readonly Dim[], range: SliceRange): string {
  const { g } = c;
  const { axis } = range;
  const dim = c.xInfo(0).shape[axis] as number;
  const count = range.length as number;
  const step = Math.abs(range.step);
  let ascending = grad;
  let first = range.start;
  if (range.step < 0) {
    ascending = g.op("Slice", [grad, g.ints([-1]), g.ints([-(2 ** 62)]), g.ints([axis]), g.ints([-1])]);
    first = range.start - (count - 1) * step;
  }
  const rank = shape.length;
  const widened = g.op("Unsqueeze", [ascending, g.ints([axis + 1])]);
  const pads = new Array(2 * (rank + 1)).fill(0);
  pads[rank + 1 + axis + 1] = step - 1;
  // Symbolic dims: 0 copies the same index before the axis, -1 infers the one after it.
  const target = shape.map((d, i) =>
    i === axis ? count * step : typeof d === "number" ? d : i < axis ? 0 : -1,
  );
  if (target.filter((d) => d === -1).length > 1) {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      "a strided Slice gradient with several symbolic dimensions after the axis",
      c.node.name,
    );
  }
  const spread = g.reshape(g.op("Pad", [widened, g.ints(pads)]), g.ints(target));
  const kept = Math.min(count * step, dim - first);
  const cropped =
    kept === count * step ? spread : g.op("Slice", [spread, g.ints([0]), g.ints([kept]), g.ints([axis])]);
  const around = new Array(2 * rank).fill(0);
  around[axis] = first;
  around[axis + rank] = dim - first - kept;
  return g.op("Pad", [cropped, g.ints(around)]);
}

const slice: GradientRule = (c) => {
  const { g } = c;
  const shape = c.xInfo(0).shape;
  const ranges = sliceRanges({ node: c.node, value: (i) => c.value(i) }, shape);
  const rank = shape.length;
  const pads = new Array(2 * rank).fill(0);
  let grad = c.dy[0]!;
  // Shape of the gradient as it is spread back, axis by axis.
  const current = [...c.yInfo(0).shape];
  for (const r of ranges) {
    const dim = shape[r.axis]!;
    if (typeof dim !== "number") {
      if (r.length === dim) continue;
      throw new OnnxError(
        "UNSUPPORTED_OPERATOR",
        `the gradient of Slice needs a static size on axis ${r.axis} unless it is taken whole`,
        c.node.name,
      );
    }
    if (r.step === 1) {
      pads[r.axis] = r.start;
      pads[r.axis + rank] = dim - r.end;
      continue;
    }
    grad = unstride(c, grad, current, r);
    current[r.axis] = dim;
  }
  return [pads.every((p) => p === 0) ? grad : g.op("Pad", [grad, g.ints(pads)])];
};

/** Constant-mode Pad: the gradient is the unpadded window of dy (re-padded where Pad cropped). */
const pad: GradientRule = (c) => {
  const { g } = c;
  const mode = c.node.attrs.string("mode", "constant");
  if (mode !== "constant") {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      `the gradient of Pad supports mode "constant", not "${mode}"`,
      c.node.name,
    );
  }
  const rank = c.xInfo(0).shape.length;
  const { begin, end } = padAmounts({ node: c.node, value: (i) => c.value(i) }, rank);
  const axes = Array.from({ length: rank }, (_, i) => i).filter((i) => begin[i]! > 0 || end[i]! > 0);
  let grad = c.dy[0]!;
  if (axes.length > 0) {
    grad = g.op("Slice", [
      grad,
      g.ints(axes.map((i) => Math.max(0, begin[i]!))),
      g.ints(axes.map((i) => (end[i]! > 0 ? -end[i]! : 2 ** 62))),
      g.ints(axes),
    ]);
  }
  const cropped = [...begin.map((b) => Math.max(0, -b)), ...end.map((e) => Math.max(0, -e))];
  return [cropped.some((p) => p > 0) ? g.op("Pad", [grad, g.ints(cropped)]) : grad];
};

const transpose: GradientRule = (c) => {
  const rank = c.xInfo(0).shape.length;
  const perm = c.node.attrs.ints("perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return [c.g.op("Transpose", [c.dy[0]!], { perm: inverse })];
};

const identity: GradientRule = (c) => [c.dy[0]];

/**
 * Max and Min of any number of inputs: the gradient goes to the inputs equal to the result,
 * shared equally among ties (as torch.maximum/minimum do).
 */
const extremum: GradientRule = (c) => {
  const { g } = c;
  const y = c.y[0]!;
  const masks = c.x.map((x) => g.op("Cast", [g.op("Equal", [x, y])], { to: onnxDataType[dtypeOf(c)] }));
  const share = masks.length === 1 ? c.dy[0]! : g.op("Div", [c.dy[0]!, g.op("Sum", masks)]);
  return c.x.map((_, i) => toInput(c, i, g.op("Mul", [share, masks[i]!])));
};

/** ReduceMax/ReduceMin and GlobalMaxPool: dy shared among the elements equal to the result. */
function reducedExtremum(axesAsInputSince: number): GradientRule {
  return (c) => {
    const { g } = c;
    const x = c.x[0]!;
    const rank = c.xInfo(0).shape.length;
    const given =
      c.node.opType === "GlobalMaxPool"
        ? Array.from({ length: rank - 2 }, (_, i) => i + 2)
        : reductionAxes({ node: c.node, value: (i) => c.value(i) }, axesAsInputSince, c.opset);
    const axes = given?.length
      ? given.map((a) => normalizeAxis(a, rank))
      : Array.from({ length: rank }, (_, i) => i);
    const keep = c.node.opType === "GlobalMaxPool" || c.node.attrs.int("keepdims", 1) === 1;
    const kept = (t: string) => (keep ? t : g.op("Unsqueeze", [t, g.ints(axes)]));
    const mask = g.op("Cast", [g.op("Equal", [x, kept(c.y[0]!)])], { to: onnxDataType[dtypeOf(c)] });
    const ties = g.reduceSum(mask, axes, true);
    return [g.op("Mul", [mask, g.op("Div", [kept(c.dy[0]!), ties])])];
  };
}

/** Tile: each copy's gradient summed back onto the original, one reshape and one ReduceSum. */
const tile: GradientRule = (c) => {
  const { g } = c;
  const shape = c.xInfo(0).shape;
  const repeats = c.value(1)?.values as number[];
  const tiled = shape.some((d, i) => typeof d !== "number" && repeats[i] !== 1);
  if (tiled) {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      "the gradient of Tile needs static sizes on the repeated axes",
      c.node.name,
    );
  }
  // [r0 * d0, r1 * d1, ...] viewed as [r0, d0, r1, d1, ...], summed over the r axes.
  const split = shape.flatMap((d, i) => [repeats[i]!, typeof d === "number" ? d : -1]);
  const summed = g.reduceSum(
    g.reshape(c.dy[0]!, g.ints(split)),
    shape.map((_, i) => 2 * i),
    false,
  );
  return [summed];
};

/** Clip (torch.clamp): the gradient passes where min <= x <= max. */
const clip: GradientRule = (c) => {
  const { g } = c;
  const x = c.x[0]!;
  const [, low, high] = c.x;
  let inside: string | undefined;
  const both = (cond: string) => (inside ? g.op("And", [inside, cond]) : cond);
  if (low) inside = both(g.op("Not", [g.op("Less", [x, low])]));
  if (high) inside = both(g.op("Not", [g.op("Greater", [x, high])]));
  return [inside ? g.op("Where", [inside, c.dy[0]!, k(c, 0)]) : c.dy[0]];
};

const prelu: GradientRule = (c) => {
  const { g } = c;
  const [x, slope] = c.x as [string, string];
  const positive = g.op("Greater", [x, k(c, 0)]);
  const dx = c.wants[0] ? g.op("Where", [positive, c.dy[0]!, g.op("Mul", [c.dy[0]!, slope])]) : undefined;
  const dslope = c.wants[1]
    ? unbroadcast(
        g,
        g.op("Where", [positive, k(c, 0), g.op("Mul", [c.dy[0]!, x])]),
        c.yInfo(0).shape,
        c.xInfo(1).shape,
      )
    : undefined;
  return [dx, dslope];
};

const hardSigmoid: GradientRule = (c) => {
  const { g } = c;
  const alpha = c.node.attrs.float("alpha", 0.2);
  const beta = c.node.attrs.float("beta", 0.5);
  const z = g.op("Add", [g.op("Mul", [c.x[0]!, k(c, alpha)]), k(c, beta)]);
  const inside = g.op("And", [g.op("Greater", [z, k(c, 0)]), g.op("Less", [z, k(c, 1)])]);
  return [g.op("Where", [inside, g.op("Mul", [c.dy[0]!, k(c, alpha)]), k(c, 0)])];
};

/** HardSwish x * clip(x / 6 + 1/2, 0, 1): derivative 0 below -3, 1 above 3, (2x + 3) / 6 between. */
const hardSwish: GradientRule = (c) => {
  const { g } = c;
  const x = c.x[0]!;
  const middle = g.op("Add", [g.op("Mul", [x, k(c, 1 / 3)]), k(c, 0.5)]);
  const upper = g.op("Where", [g.op("Greater", [x, k(c, 3)]), k(c, 1), middle]);
  const derivative = g.op("Where", [g.op("Less", [x, k(c, -3)]), k(c, 0), upper]);
  return [times(c, derivative)];
};

export const gradientRules: Record<string, GradientEntry> = {
  Add: (c) => [toInput(c, 0, c.dy[0]!), toInput(c, 1, c.dy[0]!)],
  Sub: (c) => [toInput(c, 0, c.dy[0]!), c.wants[1] ? toInput(c, 1, c.g.op("Neg", [c.dy[0]!])) : undefined],
  Mul: (c) => [
    c.wants[0] ? toInput(c, 0, times(c, c.x[1]!)) : undefined,
    c.wants[1] ? toInput(c, 1, times(c, c.x[0]!)) : undefined,
  ],
  Div: (c) => [
    c.wants[0] ? toInput(c, 0, c.g.op("Div", [c.dy[0]!, c.x[1]!])) : undefined,
    c.wants[1] ? toInput(c, 1, c.g.op("Neg", [c.g.op("Div", [times(c, c.y[0]!), c.x[1]!])])) : undefined,
  ],
  Neg: (c) => [c.g.op("Neg", [c.dy[0]!])],
  Relu: (c) => [c.g.op("Where", [c.g.op("Greater", [c.y[0]!, k(c, 0)]), c.dy[0]!, k(c, 0)])],
  LeakyRelu: (c) => [
    c.g.op("Where", [
      c.g.op("Greater", [c.x[0]!, k(c, 0)]),
      c.dy[0]!,
      c.g.op("Mul", [c.dy[0]!, k(c, c.node.attrs.float("alpha", 0.01))]),
    ]),
  ],
  Sigmoid: unary((c) => c.g.op("Mul", [c.y[0]!, c.g.op("Sub", [k(c, 1), c.y[0]!])])),
  Tanh: unary((c) => c.g.op("Sub", [k(c, 1), c.g.op("Mul", [c.y[0]!, c.y[0]!])])),
  Erf: unary((c) =>
    c.g.op("Mul", [
      c.g.op("Exp", [c.g.op("Neg", [c.g.op("Mul", [c.x[0]!, c.x[0]!])])]),
      k(c, 2 / Math.sqrt(Math.PI)),
    ]),
  ),
  Gelu: gelu,
  Exp: unary((c) => c.y[0]!),
  Log: (c) => [c.g.op("Div", [c.dy[0]!, c.x[0]!])],
  Sqrt: (c) => [c.g.op("Div", [c.g.op("Mul", [c.dy[0]!, k(c, 0.5)]), c.y[0]!])],
  Reciprocal: (c) => [c.g.op("Neg", [times(c, c.g.op("Mul", [c.y[0]!, c.y[0]!]))])],
  Abs: unary((c) => c.g.op("Sign", [c.x[0]!])),
  Pow: pow,
  Softplus: unary((c) => c.g.op("Sigmoid", [c.x[0]!])),
  Elu: (c) => {
    const alpha = c.node.attrs.float("alpha", 1);
    const negative = c.g.op("Mul", [c.dy[0]!, c.g.op("Add", [c.y[0]!, k(c, alpha)])]);
    return [c.g.op("Where", [c.g.op("Greater", [c.x[0]!, k(c, 0)]), c.dy[0]!, negative])];
  },
  HardSigmoid: hardSigmoid,
  HardSwish: hardSwish,
  PRelu: prelu,
  Clip: clip,
  Max: extremum,
  Min: extremum,
  Sum: (c) => c.x.map((_, i) => toInput(c, i, c.dy[0]!)),
  ReduceMax: reducedExtremum(18),
  ReduceMin: reducedExtremum(18),
  GlobalMaxPool: reducedExtremum(18),
  Tile: tile,
  Trilu: (c) => [
    c.g.op("Trilu", c.x[1] ? [c.dy[0]!, c.x[1]] : [c.dy[0]!], { upper: c.node.attrs.int("upper", 1) }),
  ],
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  Gemm: gemm,
  MatMul: matMul,
  Einsum: einsumRule,
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Expand: (c) => [toInput(c, 0, c.dy[0]!)],
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  Gather: gather,
  Where: (c) => [
    undefined,
    c.wants[1] ? toInput(c, 1, c.g.op("Where", [c.x[0]!, c.dy[0]!, k(c, 0)])) : undefined,
    c.wants[2] ? toInput(c, 2, c.g.op("Where", [c.x[0]!, k(c, 0), c.dy[0]!])) : undefined,
  ],
  Identity: identity,
  // In inference mode Dropout is the identity; the training-mode rewrite turns it into a mask product.
  Dropout: identity,
  Cast: (c) => [
    isFloat(c.xInfo(0).dtype)
      ? c.g.op("Cast", [c.dy[0]!], { to: onnxDataType[c.xInfo(0).dtype] })
      : undefined,
  ],
  ReduceSum: (c) => [isNoop(c, 13) ? c.dy[0] : reduceSumLike(c, 13).grad],
  ReduceMean: (c) => {
    if (isNoop(c, 18)) return [c.dy[0]];
    const { grad } = reduceSumLike(c, 18);
    const count = reducedCount(c.g, c.x[0]!, c.xInfo(0).shape, c.y[0]!, c.yInfo(0).shape, dtypeOf(c));
    return [c.g.op("Div", [grad, count])];
  },
  LayerNormalization: layerNormalization,
  BatchNormalization: batchNormalization,
  InstanceNormalization: instanceNormalization,
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: (c) => {
    const x = c.x[0]!;
    const count = reducedCount(c.g, x, c.xInfo(0).shape, c.y[0]!, c.yInfo(0).shape, dtypeOf(c));
    return [c.g.op("Expand", [c.g.op("Div", [c.dy[0]!, count]), c.g.shapeOf(x, c.xInfo(0).shape)])];
  },
  Shape: NON_DIFFERENTIABLE,
  Size: NON_DIFFERENTIABLE,
  Constant: NON_DIFFERENTIABLE,
  ConstantOfShape: NON_DIFFERENTIABLE,
  Range: NON_DIFFERENTIABLE,
  Equal: NON_DIFFERENTIABLE,
  Less: NON_DIFFERENTIABLE,
  Greater: NON_DIFFERENTIABLE,
  Not: NON_DIFFERENTIABLE,
  Mod: NON_DIFFERENTIABLE,
  And: NON_DIFFERENTIABLE,
  Or: NON_DIFFERENTIABLE,
  LessOrEqual: NON_DIFFERENTIABLE,
  GreaterOrEqual: NON_DIFFERENTIABLE,
  ArgMax: NON_DIFFERENTIABLE,
  ArgMin: NON_DIFFERENTIABLE,
  // Piecewise constant: zero gradient almost everywhere, as PyTorch defines it.
  Sign: NON_DIFFERENTIABLE,
  Floor: NON_DIFFERENTIABLE,
  Ceil: NON_DIFFERENTIABLE,
  Round: NON_DIFFERENTIABLE,
};
