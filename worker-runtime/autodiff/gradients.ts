import { normalizeAxis } from "../onnx/dims.ts";
import { isFloat, tensorFromNumbers } from "../onnx/dtypes.ts";
import { OnnxError } from "../onnx/errors.ts";
import type { Dim } from "../onnx/model.ts";
import {
  convOutputSpatial,
  convTransposeGeometry,
  einsumTerms,
  padAmounts,
  type ResizedAxis,
  reductionAxes,
  resizeGeometry,
  type SliceRange,
  sliceRanges,
} from "../onnx/shape-rules.ts";
import { convWeightGradient } from "./conv-forms.ts";
import { gemm as fastGemm } from "./gemm-forms.ts";
import { type GradientContext, type GradientRule, reducedCount, unbroadcast } from "./gradient-context.ts";
import { gridSample } from "./grid-sample.ts";

// One entry per ONNX operator: given the forward node and the gradients of its outputs, emit the
// nodes computing the gradients of its inputs (PyTorch's derivatives.yaml, tinygrad's gradient.py).
// Operators that change nothing differentiable (shape arithmetic, comparisons) are marked so.
// Node names are numbered in emission order and hashed by verifiers: a rule that emits in another
// order, or skips a node it used to emit, changes every graph that uses it.

export const NON_DIFFERENTIABLE = "non-differentiable";
export type GradientEntry = GradientRule | typeof NON_DIFFERENTIABLE;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

function unary(derivative: (c: GradientContext) => string): GradientRule {
  return (c) => [c.times(derivative(c))];
}

/** Gradient of a pure data movement: reshape the output gradient back to the input's shape. */
const reshapeBack: GradientRule = ({ g, dy0, x, xInfo }) => [g.reshape(dy0, g.shapeOf(x(0), xInfo(0).shape))];

/** A reduction's output (or its gradient) with the reduced axes back as size 1, to broadcast against x. */
function keptDims(c: GradientContext, reduced: string, axesAsInputSince: number): string {
  const rank = c.xInfo(0).shape.length;
  const given = reductionAxes(c, axesAsInputSince, c.opset);
  const keep = c.node.attrs.int("keepdims", 1) === 1;
  if (keep || !given?.length) return reduced;
  return c.g.unsqueeze(
    reduced,
    given.map((a) => normalizeAxis(a, rank)),
  );
}

function reduceSumLike(c: GradientContext, axesAsInputSince: number): string {
  return c.g.expand(keptDims(c, c.dy0, axesAsInputSince), c.g.shapeOf(c.x(0), c.xInfo(0).shape));
}

/**
 * A reduction whose gradient is kept(dy) * local(x, kept(y)); noop_with_empty_axes passes dy.
 */
function reduction(
  local: (c: GradientContext, x: string, kept: (t: string) => string) => string,
): GradientRule {
  return (c) => {
    if (isNoop(c, 18)) return [c.dy0];
    const kept = (t: string) => keptDims(c, t, 18);
    return [c.g.mul(kept(c.dy0), local(c, c.x(0), kept))];
  };
}

/**
 * The product of the other elements of the reduction, without dividing by zero (PyTorch's rule):
 * with no zero, the product over x; at the one zero, the product of the rest; with more zeros, or
 * anywhere else beside one zero, 0.
 */
function reduceProdLocal(c: GradientContext, x: string): string {
  const { g, scalar } = c;
  const rank = c.xInfo(0).shape.length;
  const given = reductionAxes(c, 18, c.opset);
  const axes = given?.length
    ? given.map((a) => normalizeAxis(a, rank))
    : Array.from({ length: rank }, (_, i) => i);
  const isZero = g.equal(x, scalar(0));
  const nonZero = g.where(isZero, scalar(1), x);
  const product =
    g.opset >= 18
      ? g.op("ReduceProd", [nonZero, g.ints(axes)], { keepdims: 1 })
      : g.op("ReduceProd", [nonZero], { axes, keepdims: 1 });
  const zeros = g.reduceSum(g.cast(isZero, c.dtype), axes, true);
  const noZero = g.div(product, nonZero);
  const atTheZero = g.where(g.and(isZero, g.equal(zeros, scalar(1))), product, scalar(0));
  return g.where(g.equal(zeros, scalar(0)), noZero, atTheZero);
}

function isNoop(c: GradientContext, axesAsInputSince: number): boolean {
  const given = reductionAxes(c, axesAsInputSince, c.opset);
  return (given === undefined || given.length === 0) && c.node.attrs.int("noop_with_empty_axes", 0) === 1;
}

const gemm: GradientRule = (c) => {
  const { g, dy0: dy } = c;
  const a = c.x(0);
  const b = c.x(1);
  const tA = c.node.attrs.int("transA", 0);
  const tB = c.node.attrs.int("transB", 0);
  const alpha = c.node.attrs.float("alpha", 1);
  const beta = c.node.attrs.float("beta", 1);
  const scaled = { alpha: { float: alpha } };
  const aShape = c.xInfo(0).shape;
  const bShape = c.xInfo(1).shape;
  const dyShape = c.yInfo(0).shape;
  const da = c.ifWants(0, () =>
    tA
      ? fastGemm(g, b, dy, { ...scaled, transA: tB, transB: 1 }, { a: bShape, b: dyShape })
      : g.op("Gemm", [dy, b], { ...scaled, transA: 0, transB: 1 - tB }),
  );
  const db = c.ifWants(1, () =>
    tB
      ? fastGemm(g, dy, a, { ...scaled, transA: 1, transB: tA }, { a: dyShape, b: aShape })
      : fastGemm(g, a, dy, { ...scaled, transA: 1 - tA, transB: 0 }, { a: aShape, b: dyShape }),
  );
  const dc = c.ifWants(2, () => {
    const summed = unbroadcast(g, dy, c.yInfo(0).shape, c.xInfo(2).shape, c.dtype);
    return beta === 1 ? summed : g.mul(summed, c.scalar(beta));
  });
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
  let a = c.x(0);
  let b = c.x(1);
  let dy = c.dy0;
  let aShape = c.xInfo(0).shape;
  let bShape = c.xInfo(1).shape;
  let yShape = c.yInfo(0).shape;
  // Vectors are promoted to matrices as numpy does, and the gradients squeezed back.
  if (aShape.length === 1) {
    a = g.unsqueeze(a, [0]);
    dy = g.unsqueeze(dy, [-2]);
    aShape = [1, ...aShape];
    yShape = [...yShape.slice(0, -1), 1, ...yShape.slice(-1)];
  }
  if (bShape.length === 1) {
    b = g.unsqueeze(b, [1]);
    dy = g.unsqueeze(dy, [-1]);
    bShape = [...bShape, 1];
    yShape = [...yShape, 1];
  }
  // Sum over broadcast batch dims, then undo the vector promotion.
  const reduced = (grad: string, promoted: readonly Dim[]) =>
    unbroadcast(g, grad, [...yShape.slice(0, -2), ...promoted.slice(-2)], promoted, c.dtype);
  const restored = (grad: string, i: number) =>
    c.xInfo(i).shape.length === 1 ? g.reshape(grad, g.shapeOf(c.x(i), c.xInfo(i).shape)) : grad;
  const da = c.ifWants(0, () => {
    const product =
      bShape.length === 2 && aShape.length === 2
        ? g.op("Gemm", [dy, b], { transB: 1 })
        : g.op("MatMul", [dy, g.transpose(b, swapLastTwo(bShape.length))]);
    return restored(reduced(product, aShape), 0);
  });
  const db = c.ifWants(1, () => {
    const k = aShape.at(-1);
    const n = bShape[1];
    if (bShape.length === 2 && typeof k === "number" && typeof n === "number") {
      // A weight shared by every row of a batched input: fold the batch into the rows, one Gemm.
      const rows = (x: string, width: number) =>
        aShape.length === 2 ? x : g.reshape(x, g.ints([-1, width]));
      const count = aShape
        .slice(0, -1)
        .reduce<Dim>((p, d) => (typeof p === "number" && typeof d === "number" ? p * d : "rows"), 1);
      return restored(
        fastGemm(g, rows(a, k), rows(dy, n), { transA: 1 }, { a: [count, k], b: [count, n] }),
        1,
      );
    }
    return restored(reduced(g.op("MatMul", [g.transpose(a, swapLastTwo(aShape.length)), dy]), bShape), 1);
  });
  return [da, db];
};

/**
 * Einsum: operand i's gradient is the einsum of dy with the other operands into operand i's
 * subscripts. A letter summed inside operand i alone ("bnd->bd") gets dy broadcast along it.
 * Letters repeated within a term (diagonals) are outside this rule.
 */
const einsumRule: GradientRule = (c) => {
  const { inputs, output } = einsumTerms(c.node);
  return inputs.map((term, i) =>
    c.ifWants(i, () => {
      const { g } = c;
      if (new Set(term).size !== term.length) {
        throw new OnnxError(
          "UNSUPPORTED_OPERATOR",
          `the gradient of Einsum "${inputs.join(",")}->${output}" needs each letter of operand ${i} once`,
          c.node.name,
        );
      }
      const others = inputs.filter((_, j) => j !== i);
      const reachable = new Set([...output, ...others.join("")]);
      const kept = [...term].filter((letter) => reachable.has(letter)).join("");
      const equation = `${[output, ...others].join(",")}->${kept}`;
      const product = g.op("Einsum", [c.dy0, ...c.inputs.filter((_, j) => j !== i)], { equation });
      // A size-1 axis broadcast against a larger one sums back like any broadcast.
      const full = [...kept].map((letter) => {
        const at = inputs.findIndex((t, j) => j !== i && t.includes(letter));
        return at >= 0
          ? c.xInfo(at).shape[inputs[at]!.indexOf(letter)]!
          : c.yInfo(0).shape[output.indexOf(letter)]!;
      });
      const shape = c.xInfo(i).shape;
      const own = [...kept].map((letter) => shape[term.indexOf(letter)]!);
      const grad = unbroadcast(g, product, full, own, c.dtype);
      if (kept.length === term.length) return grad;
      const summed = [...term].flatMap((letter, axis) => (reachable.has(letter) ? [] : [axis]));
      return g.expand(g.unsqueeze(grad, summed), g.shapeOf(c.x(i), shape));
    }),
  );
};

const softmax: GradientRule = ({ g, node, y, dy0 }) => {
  const dot = g.reduceSum(g.mul(dy0, y(0)), [node.attrs.int("axis", -1)], true);
  return [g.mul(y(0), g.sub(dy0, dot))];
};

const logSoftmax: GradientRule = ({ g, node, y, dy0 }) => {
  const total = g.reduceSum(dy0, [node.attrs.int("axis", -1)], true);
  return [g.sub(dy0, g.mul(g.exp(y(0)), total))];
};

const gelu: GradientRule = (c) => {
  const { g, scalar } = c;
  const x = c.x(0);
  if (c.node.attrs.string("approximate", "none") === "tanh") {
    // y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
    const x2 = g.mul(x, x);
    const u = g.mul(g.mul(x, g.add(scalar(1), g.mul(x2, scalar(0.044715)))), scalar(SQRT_2_OVER_PI));
    const t = g.op("Tanh", [u]);
    const du = g.mul(g.add(scalar(1), g.mul(x2, scalar(3 * 0.044715))), scalar(SQRT_2_OVER_PI));
    const sech2 = g.sub(scalar(1), g.mul(t, t));
    const left = g.mul(g.add(scalar(1), t), scalar(0.5));
    const right = g.mul(g.mul(g.mul(x, scalar(0.5)), sech2), du);
    return [c.times(g.add(left, right))];
  }
  // d/dx x Phi(x) = Phi(x) + x phi(x)
  const cdf = g.mul(g.add(scalar(1), g.op("Erf", [g.mul(x, scalar(Math.SQRT1_2))])), scalar(0.5));
  const pdf = g.mul(g.exp(g.mul(g.mul(x, x), scalar(-0.5))), scalar(INV_SQRT_2PI));
  return [c.times(g.add(cdf, g.mul(x, pdf)))];
};

const pow: GradientRule = (c) => {
  const { g, scalar } = c;
  const x = c.x(0);
  const exponent = c.value(1);
  const e = exponent?.values.length === 1 ? exponent.values[0] : undefined;
  const derivative = () => {
    if (e === 2) return g.mul(x, scalar(2));
    // A root (0 < e < 1: vector_norm's 1/ord) has an infinite derivative at 0: 0 there, as Sqrt.
    if (typeof e === "number" && e > 0 && e < 1) {
      const power = g.mul(g.op("Pow", [x, scalar(e - 1)]), scalar(e));
      return g.where(g.equal(x, scalar(0)), scalar(0), power);
    }
    if (typeof e === "number") return g.mul(g.op("Pow", [x, scalar(e - 1)]), scalar(e));
    const p = c.x(1);
    return g.mul(g.op("Pow", [x, g.sub(p, scalar(1))]), p);
  };
  return [
    c.toInput(0, () => c.times(derivative())),
    c.toInput(1, () => c.times(g.mul(c.y(0), g.op("Log", [x])))),
  ];
};

const layerNormalization: GradientRule = (c) => {
  const { g, dy0: dy } = c;
  const x = c.x(0);
  const shape = c.xInfo(0).shape;
  const rank = shape.length;
  const axis = normalizeAxis(c.node.attrs.int("axis", -1), rank);
  const normAxes = Array.from({ length: rank - axis }, (_, i) => axis + i);
  const leadAxes = Array.from({ length: axis }, (_, i) => i);
  // Mean and InvStdDev are outputs the training-mode rewrite asks the forward node for.
  const asInput = (t: string) => (c.yInfo(1).dtype === c.xInfo(0).dtype ? t : g.cast(t, c.xInfo(0).dtype));
  const mean = asInput(c.y(1));
  const rstd = asInput(c.y(2));
  const xhat = g.mul(g.sub(x, mean), rstd);
  const count = reducedCount(g, x, shape, mean, c.yInfo(1).shape, c.dtype);
  const dx = c.ifWants(0, () => {
    const dxhat = g.mul(dy, c.x(1));
    const meanOf = (t: string) => g.div(g.reduceSum(t, normAxes, true), count);
    const centered = g.sub(dxhat, meanOf(dxhat));
    return g.mul(g.sub(centered, g.mul(xhat, meanOf(g.mul(dxhat, xhat)))), rstd);
  });
  const toParam = (grad: string, i: number) =>
    leadAxes.length === 0
      ? grad
      : unbroadcast(g, g.reduceSum(grad, leadAxes, false), shape.slice(axis), c.xInfo(i).shape, c.dtype);
  return [dx, c.ifWants(1, () => toParam(g.mul(dy, xhat), 1)), c.ifWants(2, () => toParam(dy, 2))];
};

/**
 * InstanceNormalization (also what GroupNorm exports to): LayerNorm's gradient over the spatial
 * axes of each (sample, channel), with the statistics recomputed (the operator outputs none).
 */
const instanceNormalization: GradientRule = (c) => {
  const { g, dy0: dy } = c;
  const x = c.x(0);
  const shape = c.xInfo(0).shape;
  const spatial = Array.from({ length: shape.length - 2 }, (_, i) => i + 2);
  const eps = c.node.attrs.float("epsilon", 1e-5);
  const sum = g.reduceSum(x, spatial, true);
  const count = reducedCount(g, x, shape, sum, [...shape.slice(0, 2), ...spatial.map(() => 1)], c.dtype);
  const meanOf = (t: string) => g.div(g.reduceSum(t, spatial, true), count);
  const centered = g.sub(x, g.div(sum, count));
  const rstd = g.reciprocal(g.sqrt(g.add(meanOf(g.mul(centered, centered)), c.scalar(eps))));
  const xhat = g.mul(centered, rstd);
  const dx = c.ifWants(0, () => {
    const dxhat = g.mul(dy, perChannel(c, c.x(1)));
    return g.mul(g.sub(g.sub(dxhat, meanOf(dxhat)), g.mul(xhat, meanOf(g.mul(dxhat, xhat)))), rstd);
  });
  const perChannelSum = (t: string) => g.reduceSum(t, [0, ...spatial], false);
  return [dx, c.ifWants(1, () => perChannelSum(g.mul(dy, xhat))), c.ifWants(2, () => perChannelSum(dy))];
};

/** Per-channel tensors ([C]) reshaped to broadcast against [N, C, ...spatial]. */
function perChannel(c: GradientContext, name: string): string {
  const axes = Array.from({ length: c.xInfo(0).shape.length - 2 }, (_, i) => i + 1);
  return c.g.unsqueeze(name, axes);
}

const batchNormalization: GradientRule = (c) => {
  // The inference form y = (x - mean) * scale / sqrt(var + eps) + bias, differentiable in all five
  // inputs: in training mode mean and var are batch statistics computed from x upstream.
  const { g, dy0: dy, wants } = c;
  const rank = c.xInfo(0).shape.length;
  const channelAxes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const expand = (t: string) => (rank > 2 ? perChannel(c, t) : t);
  const eps = c.node.attrs.float("epsilon", 1e-5);
  const rstd = g.reciprocal(g.sqrt(g.add(c.x(4), c.scalar(eps))));
  const scaledRstd = g.mul(c.x(1), rstd);
  const centered = g.sub(c.x(0), expand(c.x(3)));
  const dySum = wants[2] || wants[3] ? g.reduceSum(dy, channelAxes, false) : undefined;
  const dyDot = wants[1] || wants[4] ? g.reduceSum(g.mul(dy, centered), channelAxes, false) : undefined;
  return [
    c.ifWants(0, () => g.mul(dy, expand(scaledRstd))),
    dyDot && wants[1] ? g.mul(dyDot, rstd) : undefined,
    wants[2] ? dySum : undefined,
    dySum && wants[3] ? g.neg(g.mul(dySum, scaledRstd)) : undefined,
    dyDot && wants[4] ? g.mul(g.mul(dyDot, scaledRstd), g.mul(g.mul(rstd, rstd), c.scalar(-0.5))) : undefined,
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

function biasGradient(c: GradientContext, spatialRank: number): string | undefined {
  return c.ifWants(2, () =>
    c.g.reduceSum(c.dy0, [0, ...Array.from({ length: spatialRank }, (_, i) => i + 2)], false),
  );
}

const conv: GradientRule = (c) => {
  const { g, dy0: dy } = c;
  const [x, w] = [c.x(0), c.x(1)];
  const wShape = c.xInfo(1).shape as number[];
  const kernel = wShape.slice(2);
  const geo = windowGeometry(c, kernel);
  const group = c.node.attrs.int("group", 1);
  const dx = c.ifWants(0, () =>
    g.op("ConvTranspose", [dy, w], {
      strides: geo.strides,
      dilations: geo.dilations,
      pads: geo.transposePads,
      group,
      output_padding: geo.outputPadding,
    }),
  );
  const dw = c.ifWants(1, () =>
    convWeightGradient(g, {
      input: x,
      inputShape: c.xInfo(0).shape,
      outputGrad: dy,
      outputShape: c.yInfo(0).shape,
      group,
      kernel,
      geometry: geo,
    }),
  );
  return [dx, dw, biasGradient(c, kernel.length)];
};

/** ConvTranspose is the adjoint of Conv: its input gradient is a Conv of dy with the same weights. */
const convTranspose: GradientRule = (c) => {
  const { g, dy0: dy } = c;
  const [x, w] = [c.x(0), c.x(1)];
  const wShape = c.xInfo(1).shape as number[];
  const kernel = c.node.attrs.ints("kernel_shape") ?? wShape.slice(2);
  const geo = convTransposeGeometry(c.node, staticSpatial(c, 0), kernel);
  const group = c.node.attrs.int("group", 1);
  const dx = c.ifWants(0, () =>
    g.op("Conv", [dy, w], { strides: geo.strides, dilations: geo.dilations, pads: geo.pads, group }),
  );
  // The weight gradient of the Conv from dy to x that this ConvTranspose is the adjoint of.
  const dw = c.ifWants(1, () =>
    convWeightGradient(g, {
      input: dy,
      inputShape: c.yInfo(0).shape,
      outputGrad: x,
      outputShape: c.xInfo(0).shape,
      group,
      kernel,
      geometry: geo,
    }),
  );
  return [dx, dw, biasGradient(c, kernel.length)];
};

/**
 * Whether no two of a pool's windows share an element (each stride at least its dilated kernel),
 * so every element of x is the maximum of at most one window.
 */
function disjointWindows(c: GradientContext): boolean {
  const kernel = c.node.attrs.require(c.node.attrs.ints("kernel_shape"), "kernel_shape");
  const strides = c.node.attrs.ints("strides") ?? kernel.map(() => 1);
  const dilations = c.node.attrs.ints("dilations") ?? kernel.map(() => 1);
  return kernel.every((k, i) => strides[i]! >= (k - 1) * dilations[i]! + 1);
}

const maxPool: GradientRule = (c) => {
  // Indices is an output the training-mode rewrite asks for: flat positions in x of each maximum.
  const { g } = c;
  const x = c.x(0);
  const xShape = g.shapeOf(x, c.xInfo(0).shape);
  // Disjoint windows (MaxPool2d(2)) write each gradient to its own position: MaxUnpool's plain
  // stores (onnxruntime has it for float32 only) instead of a zero tensor and a scatter-add, 28
  // and 16 µs less for the CNN fixture's two pools on one thread.
  if (c.dtype === "float32" && c.node.attrs.int("storage_order", 0) === 0 && disjointWindows(c)) {
    const kernel = c.node.attrs.require(c.node.attrs.ints("kernel_shape"), "kernel_shape");
    const geo = windowGeometry(c, kernel);
    // Its pads only bound the output size it infers, which must not exceed x's: the pool's, plus a
    // ceil_mode window's overhang.
    return [
      g.op("MaxUnpool", [c.dy0, c.y(1), xShape], {
        kernel_shape: kernel,
        strides: geo.strides,
        pads: geo.transposePads,
      }),
    ];
  }
  const flatShape = g.ints([-1]);
  const zeros = g.mul(g.reshape(x, flatShape), c.scalar(0));
  const scattered = g.op(
    "ScatterElements",
    [zeros, g.reshape(c.y(1), flatShape), g.reshape(c.dy0, flatShape)],
    { axis: 0, reduction: "add" },
  );
  return [g.reshape(scattered, xShape)];
};

const averagePool: GradientRule = (c) => {
  const { g } = c;
  const kernel = c.node.attrs.require(c.node.attrs.ints("kernel_shape"), "kernel_shape");
  const geo = windowGeometry(c, kernel);
  const channels = c.xInfo(0).shape[1] as number;
  const spatial = staticSpatial(c, 0);
  const { dtype } = c;
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
  const share = c.times(g.div(pooled, windowSums));
  return [
    g.op("ConvTranspose", [share, ones([channels, 1, ...kernel])], {
      strides: geo.strides,
      pads: geo.transposePads,
      group: channels,
      output_padding: geo.outputPadding,
    }),
  ];
};

/**
 * Gather: dy scatter-added into zeros shaped like data. A scalar index (h[:, 0], out[:, -1]) drops
 * the axis; known at build time on a static axis, its gradient is dy padded back into place.
 */
const gather: GradientRule = (c) => {
  const { g } = c;
  const data = c.x(0);
  const dataShape = c.xInfo(0).shape;
  const rank = dataShape.length;
  const axis = normalizeAxis(c.node.attrs.int("axis", 0), rank);
  const dim = dataShape[axis];
  const scalarIndex = c.xInfo(1).shape.length === 0;
  const known = c.value(1);
  const staticIndices =
    typeof dim === "number" && known?.values.every((i) => typeof i === "number")
      ? (known.values as number[]).map((i) => (i < 0 ? i + dim : i))
      : undefined;
  if (scalarIndex && typeof dim === "number" && staticIndices) {
    const at = staticIndices[0]!;
    const pads = new Array(2 * rank).fill(0);
    pads[axis] = at;
    pads[axis + rank] = dim - at - 1;
    return [g.op("Pad", [g.unsqueeze(c.dy0, [axis]), g.ints(pads)])];
  }
  // A scalar index becomes a list of one, so that one scatter serves both.
  const dy = scalarIndex ? g.unsqueeze(c.dy0, [axis]) : c.dy0;
  const indexRank = Math.max(1, c.xInfo(1).shape.length);
  let indices: string;
  if (staticIndices) {
    indices = g.constant(tensorFromNumbers("int64", known!.dims, staticIndices));
  } else {
    const given = g.cast(scalarIndex ? g.unsqueeze(c.x(1), [0]) : c.x(1), "int64");
    const size = g.op("Gather", [g.op("Shape", [data]), g.scalar(axis, "int64")]);
    indices = g.where(g.lt(given, g.scalar(0, "int64")), g.add(given, size), given);
  }
  // Scatter-add rows of dy into zeros shaped like data with `axis` moved first.
  const toFront = [axis, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis)];
  const movedData = axis === 0 ? data : g.transpose(data, toFront);
  const zeros = g.mul(movedData, c.scalar(0));
  const dyRank = rank - 1 + indexRank;
  const indexAxes = Array.from({ length: indexRank }, (_, i) => axis + i);
  const dyFront = [
    ...indexAxes,
    ...Array.from({ length: dyRank }, (_, i) => i).filter((i) => !indexAxes.includes(i)),
  ];
  const movedDy = axis === 0 ? dy : g.transpose(dy, dyFront);
  const scattered = g.op("ScatterND", [zeros, g.unsqueeze(indices, [-1]), movedDy], { reduction: "add" });
  const inverse = toFront.map((_, i) => toFront.indexOf(i));
  return [axis === 0 ? scattered : g.transpose(scattered, inverse)];
};

const concat: GradientRule = (c) => {
  const { g } = c;
  const rank = c.yInfo(0).shape.length;
  const axis = normalizeAxis(c.node.attrs.int("axis", 0), rank);
  const sizes = c.inputs.map((_, i) => c.xInfo(i).shape[axis]);
  const splitSizes = sizes.every((s) => typeof s === "number")
    ? g.ints(sizes as number[])
    : g.op(
        "Concat",
        c.inputs.map((name) => g.op("Gather", [g.op("Shape", [name]), g.ints([axis])])),
        { axis: 0 },
      );
  return g
    .emit("Split", [c.dy0, splitSizes], { axis }, c.inputs.length)
    .map((grad, i) => (c.wants[i] ? grad : undefined));
};

const split: GradientRule = (c) => {
  const { g } = c;
  const axis = normalizeAxis(c.node.attrs.int("axis", 0), c.xInfo(0).shape.length);
  const parts = c.outputs.map((name, i) => c.dy[i] ?? g.mul(name, c.scalar(0)));
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
  const widened = g.unsqueeze(ascending, [axis + 1]);
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
  const ranges = sliceRanges(c, shape);
  const rank = shape.length;
  const pads = new Array(2 * rank).fill(0);
  let grad = c.dy0;
  // Shape of the gradient as it is spread back, axis by axis.
  const current = [...c.yInfo(0).shape];
  for (const r of ranges) {
    const dim = shape[r.axis];
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
  const rank = c.xInfo(0).shape.length;
  const { begin, end } = padAmounts(c, rank);
  if (mode === "reflect" || mode === "edge") return [foldBorders(c, mode, begin, end)];
  if (mode !== "constant") {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      `the gradient of Pad supports modes constant, reflect and edge, not "${mode}"`,
      c.node.name,
    );
  }
  const padded = begin
    .map((before, axis) => ({ axis, before, after: end[axis] ?? 0 }))
    .filter((p) => p.before > 0 || p.after > 0);
  let grad = c.dy0;
  if (padded.length > 0) {
    grad = g.op("Slice", [
      grad,
      g.ints(padded.map((p) => Math.max(0, p.before))),
      g.ints(padded.map((p) => (p.after > 0 ? -p.after : 2 ** 62))),
      g.ints(padded.map((p) => p.axis)),
    ]);
  }
  const cropped = [...begin.map((b) => Math.max(0, -b)), ...end.map((e) => Math.max(0, -e))];
  return [cropped.some((p) => p > 0) ? g.op("Pad", [grad, g.ints(cropped)]) : grad];
};

/**
 * Pad reflect or edge, axis by axis (the padding is separable): the centre of dy, plus each
 * border folded back onto the elements it copied. Reflect copies x[1..b] mirrored before and
 * x[n-1-a..n-2] mirrored after; edge copies x[0] b times and x[n-1] a times.
 */
function foldBorders(c: GradientContext, mode: string, begin: number[], end: number[]): string {
  const { g } = c;
  const shape = c.xInfo(0).shape;
  const slice = (t: string, axis: number, from: number, to: number, step = 1) =>
    g.op("Slice", [t, g.ints([from]), g.ints([to]), g.ints([axis]), g.ints([step])]);
  const placed = (t: string, axis: number, before: number, after: number) => {
    const pads = new Array(2 * shape.length).fill(0);
    pads[axis] = before;
    pads[axis + shape.length] = after;
    return g.op("Pad", [t, g.ints(pads)]);
  };
  let grad = c.dy0;
  shape.forEach((size, axis) => {
    const b = begin[axis]!;
    const a = end[axis]!;
    if (b === 0 && a === 0) return;
    if (typeof size !== "number" || b < 0 || a < 0) {
      throw new OnnxError(
        "UNSUPPORTED_OPERATOR",
        `the gradient of Pad ${mode} needs a known size and no cropping on axis ${axis}`,
        c.node.name,
      );
    }
    const parts = [slice(grad, axis, b, b + size)];
    if (b > 0) {
      parts.push(
        mode === "reflect"
          ? placed(slice(grad, axis, b - 1, -(2 ** 62), -1), axis, 1, size - 1 - b)
          : placed(g.reduceSum(slice(grad, axis, 0, b), [axis], true), axis, 0, size - 1),
      );
    }
    if (a > 0) {
      parts.push(
        mode === "reflect"
          ? placed(slice(grad, axis, b + size + a - 1, b + size - 1, -1), axis, size - 1 - a, 1)
          : placed(g.reduceSum(slice(grad, axis, b + size, b + size + a), [axis], true), axis, size - 1, 0),
      );
    }
    grad = parts.length === 1 ? parts[0]! : g.op("Sum", parts);
  });
  return grad;
}

const transpose: GradientRule = (c) => {
  const rank = c.xInfo(0).shape.length;
  const perm = c.node.attrs.ints("perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return [c.g.transpose(c.dy0, inverse)];
};

const identity: GradientRule = (c) => [c.dy0];

/**
 * Max and Min of any number of inputs: the gradient goes to the inputs equal to the result,
 * shared equally among ties (as torch.maximum/minimum do).
 */
const extremum: GradientRule = (c) => {
  const { g, dy0 } = c;
  const masks = c.inputs.map((x) => g.cast(g.equal(x, c.y(0)), c.dtype));
  const share = masks.length === 1 ? dy0 : g.div(dy0, g.op("Sum", masks));
  return masks.map((mask, i) => {
    // Emitted whether input i wants it or not, so the numbering of the nodes after it stays put.
    const grad = g.mul(share, mask);
    return c.toInput(i, () => grad);
  });
};

/** ReduceMax/ReduceMin and GlobalMaxPool: dy shared among the elements equal to the result. */
function reducedExtremum(axesAsInputSince: number): GradientRule {
  return (c) => {
    const { g } = c;
    const x = c.x(0);
    const rank = c.xInfo(0).shape.length;
    const given =
      c.node.opType === "GlobalMaxPool"
        ? Array.from({ length: rank - 2 }, (_, i) => i + 2)
        : reductionAxes(c, axesAsInputSince, c.opset);
    const axes = given?.length
      ? given.map((a) => normalizeAxis(a, rank))
      : Array.from({ length: rank }, (_, i) => i);
    const keep = c.node.opType === "GlobalMaxPool" || c.node.attrs.int("keepdims", 1) === 1;
    const kept = (t: string) => (keep ? t : g.unsqueeze(t, axes));
    const mask = g.cast(g.equal(x, kept(c.y(0))), c.dtype);
    const ties = g.reduceSum(mask, axes, true);
    return [g.mul(mask, g.div(kept(c.dy0), ties))];
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
    g.reshape(c.dy0, g.ints(split)),
    shape.map((_, i) => 2 * i),
    false,
  );
  return [summed];
};

/** Clip (torch.clamp): the gradient passes where min <= x <= max. */
const clip: GradientRule = (c) => {
  const { g, dy0 } = c;
  const x = c.x(0);
  const [, low, high] = c.inputs;
  let inside: string | undefined;
  const both = (cond: string) => (inside ? g.and(inside, cond) : cond);
  if (low) inside = both(g.not(g.lt(x, low)));
  if (high) inside = both(g.not(g.gt(x, high)));
  return [inside ? g.where(inside, dy0, c.scalar(0)) : dy0];
};

const prelu: GradientRule = (c) => {
  const { g, dy0, scalar } = c;
  const [x, slope] = [c.x(0), c.x(1)];
  const positive = g.gt(x, scalar(0));
  return [
    c.ifWants(0, () => g.where(positive, dy0, g.mul(dy0, slope))),
    c.toInput(1, () => g.where(positive, scalar(0), g.mul(dy0, x))),
  ];
};

const hardSigmoid: GradientRule = ({ g, node, x, dy0, scalar }) => {
  const alpha = node.attrs.float("alpha", 0.2);
  const beta = node.attrs.float("beta", 0.5);
  const z = g.add(g.mul(x(0), scalar(alpha)), scalar(beta));
  const inside = g.and(g.gt(z, scalar(0)), g.lt(z, scalar(1)));
  return [g.where(inside, g.mul(dy0, scalar(alpha)), scalar(0))];
};

/** HardSwish x * clip(x / 6 + 1/2, 0, 1): derivative 0 below -3, 1 above 3, (2x + 3) / 6 between. */
const hardSwish = unary(({ g, x, scalar }) => {
  const middle = g.add(g.mul(x(0), scalar(1 / 3)), scalar(0.5));
  const upper = g.where(g.gt(x(0), scalar(3)), scalar(1), middle);
  return g.where(g.lt(x(0), scalar(-3)), scalar(0), upper);
});

/** Zeros shaped like `name`. */
function zerosLike(c: GradientContext, name: string): string {
  return c.g.mul(name, c.scalar(0));
}

/** GatherElements: dy scatter-added back to where each element came from. */
const gatherElements: GradientRule = (c) => [
  c.g.op("ScatterElements", [zerosLike(c, c.x(0)), c.x(1), c.dy0], {
    axis: c.node.attrs.int("axis", 0),
    reduction: "add",
  }),
];

/**
 * ScatterElements and ScatterND (reduction none or add): updates get dy gathered from where they
 * went; data gets dy, less the overwritten elements when nothing is added.
 */
function scatter(gatherOp: string): GradientRule {
  return (c) => {
    const { g } = c;
    const axis: Record<string, number> =
      gatherOp === "GatherElements" ? { axis: c.node.attrs.int("axis", 0) } : {};
    const overwrites = c.node.attrs.string("reduction", "none") === "none";
    return [
      c.ifWants(0, () =>
        overwrites ? g.op(c.node.opType, [c.dy0, c.x(1), zerosLike(c, c.x(2))], axis) : c.dy0,
      ),
      undefined,
      c.ifWants(2, () => g.op(gatherOp, [c.dy0, c.x(1)], axis)),
    ];
  };
}

/** CumSum: each input reaches every later output, so its gradient sums dy in the other direction. */
const cumSum: GradientRule = (c) => [
  c.g.op("CumSum", [c.dy0, c.x(1)], {
    exclusive: c.node.attrs.int("exclusive", 0),
    reverse: 1 - c.node.attrs.int("reverse", 0),
  }),
];

/** [N, C, H, W] <-> [N, C', H * b, W * b] as a Reshape / Transpose / Reshape with static C, H, W. */
function blockShuffle(c: GradientContext, x: string, to: number[], perm: number[], back: number[]): string {
  const { g } = c;
  return g.reshape(g.transpose(g.reshape(x, g.ints(to)), perm), g.ints(back));
}

function staticDims(c: GradientContext, shape: readonly Dim[], what: string): number[] {
  const rest = shape.slice(1);
  if (!rest.every((d) => typeof d === "number")) {
    throw new OnnxError(
      "SHAPE_MISMATCH",
      `the gradient of ${what} needs static sizes past the batch axis`,
      c.node.name,
    );
  }
  return rest as number[];
}

/** DepthToSpace: the inverse rearrangement. DCR is undone by SpaceToDepth; CRD by hand. */
const depthToSpace: GradientRule = (c) => {
  const b = c.node.attrs.int("blocksize", 1);
  if (c.node.attrs.string("mode", "DCR") === "DCR")
    return [c.g.op("SpaceToDepth", [c.dy0], { blocksize: b })];
  const [channels, height, width] = staticDims(c, c.yInfo(0).shape, "DepthToSpace");
  const h = height! / b;
  const w = width! / b;
  return [
    blockShuffle(c, c.dy0, [0, channels!, h, b, w, b], [0, 1, 3, 5, 2, 4], [0, channels! * b * b, h, w]),
  ];
};

/**
 * GroupNormalization: LayerNorm's gradient over each (sample, group), statistics recomputed;
 * scale and bias are per group (opset 18) or per channel (opset 21).
 */
const groupNormalization: GradientRule = (c) => {
  const { g, dy0: dy } = c;
  const x = c.x(0);
  const shape = c.xInfo(0).shape;
  const [channels, ...spatial] = staticDims(c, shape, "GroupNormalization");
  const groups = c.node.attrs.int("num_groups", 1);
  const perGroup = c.xInfo(1).shape[0] === groups && groups !== channels;
  const eps = c.node.attrs.float("epsilon", 1e-5);
  const grouped = (t: string) => g.reshape(t, g.ints([0, groups, -1]));
  const count = c.scalar((channels! / groups) * spatial.reduce((a, b) => a * b, 1));
  const meanOf = (t: string) => g.div(g.reduceSum(t, [2], true), count);
  const xs = grouped(x);
  const centered = g.sub(xs, meanOf(xs));
  const rstd = g.reciprocal(g.sqrt(g.add(meanOf(g.mul(centered, centered)), c.scalar(eps))));
  const xhat = g.reshape(g.mul(centered, rstd), g.shapeOf(x, shape));
  // Channel c of group c / (C / G) uses scale[c] (opset 21) or scale[group] (opset 18).
  const channelAxes = Array.from({ length: spatial.length }, (_, i) => i + 1);
  const perChannel = (t: string) =>
    g.unsqueeze(
      perGroup
        ? g.reshape(g.expand(g.unsqueeze(t, [1]), g.ints([groups, channels! / groups])), g.ints([-1]))
        : t,
      channelAxes,
    );
  const dx = c.ifWants(0, () => {
    const dxhat = grouped(g.mul(dy, perChannel(c.x(1))));
    const xhatGrouped = grouped(xhat);
    const inner = g.sub(g.sub(dxhat, meanOf(dxhat)), g.mul(xhatGrouped, meanOf(g.mul(dxhat, xhatGrouped))));
    return g.reshape(g.mul(inner, rstd), g.shapeOf(x, shape));
  });
  const toParam = (t: string) => {
    const summed = g.reduceSum(t, [0, ...spatial.map((_, i) => i + 2)], false);
    return perGroup ? g.reduceSum(g.reshape(summed, g.ints([groups, -1])), [1], false) : summed;
  };
  return [dx, c.ifWants(1, () => toParam(g.mul(dy, xhat))), c.ifWants(2, () => toParam(dy))];
};

/** Interpolation weights of one resized axis as onnxruntime computes them (float32 coordinates). */
function resizeMatrix(c: GradientContext, axis: ResizedAxis): number[][] {
  const f = Math.fround;
  const { input: n, output: m } = axis;
  const scale = f(axis.scale);
  const transform = c.node.attrs.string("coordinate_transformation_mode", "half_pixel");
  const original = (x: number): number => {
    switch (transform) {
      case "asymmetric":
        return f(x / scale);
      case "align_corners":
        return m === 1 ? 0 : f(f(x * (n - 1)) / (m - 1));
      case "pytorch_half_pixel":
        return m > 1 ? f(f(f(x + 0.5) / scale) - 0.5) : 0;
      case "half_pixel_symmetric": {
        const offset = f(f(n / 2) * f(1 - f(m / f(n * scale))));
        return f(offset + f(f(f(x + 0.5) / scale) - 0.5));
      }
      default:
        return f(f(f(x + 0.5) / scale) - 0.5);
    }
  };
  const clamp = (i: number) => Math.min(n - 1, Math.max(0, i));
  const nearest = (x: number): number => {
    switch (c.node.attrs.string("nearest_mode", "round_prefer_floor")) {
      case "floor":
        return Math.floor(x);
      case "ceil":
        return Math.ceil(x);
      case "round_prefer_ceil":
        return Math.floor(x + 0.5);
      default:
        return x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x);
    }
  };
  const mode = c.node.attrs.string("mode", "nearest");
  const cubicA = c.node.attrs.float("cubic_coeff_a", -0.75);
  const excludeOutside = c.node.attrs.int("exclude_outside", 0) !== 0;
  return Array.from({ length: m }, (_, o) => {
    const row = new Array<number>(n).fill(0);
    const x = original(o);
    if (mode === "nearest") {
      row[clamp(nearest(x))] = 1;
      return row;
    }
    if (mode === "cubic") {
      // Four taps around x, unclamped; a tap outside the axis reads the edge, or with
      // exclude_outside weighs 0 and the others are renormalized to sum to 1.
      const base = Math.floor(x);
      const taps = [base - 1, base, base + 1, base + 2];
      const weights = cubicWeights(f(x - base), cubicA).map((w, i) =>
        excludeOutside && (taps[i]! < 0 || taps[i]! >= n) ? 0 : w,
      );
      const sum = excludeOutside ? weights.reduce((a, b) => a + b, 0) : 1;
      taps.forEach((t, i) => {
        row[clamp(t)]! += weights[i]! / sum;
      });
      return row;
    }
    const at = Math.min(Math.max(x, 0), n - 1);
    const low = Math.floor(at);
    const high = Math.min(low + 1, n - 1);
    row[low]! += high === low ? 1 : high - at;
    if (high !== low) row[high]! += at - low;
    return row;
  });
}

/** Keys' cubic convolution weights of the taps at distances 1 + s, s, 1 - s and 2 - s (0 ≤ s < 1). */
function cubicWeights(s: number, a: number): number[] {
  const near = (d: number) => ((a + 2) * d - (a + 3)) * d * d + 1;
  const far = (d: number) => ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return [far(1 + s), near(s), near(1 - s), far(2 - s)];
}

/** The factor s when output o reads input floor(o / s): nearest upsampling by an integer. */
function blockFactor(axis: ResizedAxis, matrix: number[][]): number | undefined {
  const s = axis.output / axis.input;
  if (!Number.isInteger(s)) return undefined;
  return matrix.every((row, o) => row[Math.floor(o / s)] === 1) ? s : undefined;
}

/**
 * Resize (nearest, linear, cubic): linear in x along each resized axis, y = A x with A built the way
 * onnxruntime interpolates, so dx = A^T dy axis by axis; integer nearest upsampling sums blocks.
 */
const resize: GradientRule = (c) => {
  const { g } = c;
  const shape = c.xInfo(0).shape;
  const { axes } = resizeGeometry(c, shape);
  const matrices = axes.map((a) => resizeMatrix(c, a));
  const factors = axes.map((a, i) => blockFactor(a, matrices[i]!));
  const outShape = c.yInfo(0).shape;
  if (factors.every((s) => s !== undefined) && outShape.filter((d) => typeof d !== "number").length <= 1) {
    const split = outShape.flatMap((d, i) => {
      const at = axes.findIndex((a) => a.axis === i);
      return at < 0 ? [typeof d === "number" ? d : -1] : [axes[at]!.input, factors[at]!];
    });
    const blockAxes = axes.map((a, i) => a.axis + i + 1);
    return [g.reduceSum(g.reshape(c.dy0, g.ints(split)), blockAxes, false)];
  }
  const rank = shape.length;
  let grad = c.dy0;
  axes.forEach((a, i) => {
    const matrix = matrices[i]!;
    const weights = (rows: number[][]) =>
      g.constant(tensorFromNumbers(c.dtype, [rows.length, rows[0]!.length], rows.flat()));
    if (a.axis === rank - 2) {
      const transposed = Array.from({ length: a.input }, (_, j) => matrix.map((row) => row[j]!));
      grad = g.op("MatMul", [weights(transposed), grad]);
      return;
    }
    const last = a.axis === rank - 1;
    const perm = Array.from({ length: rank }, (_, j) =>
      j === a.axis ? rank - 1 : j === rank - 1 ? a.axis : j,
    );
    const moved = last ? grad : g.transpose(grad, perm);
    const product = g.op("MatMul", [moved, weights(matrix)]);
    grad = last ? product : g.transpose(product, perm);
  });
  return [grad];
};

const SELU_ALPHA = 1.6732632423543772;
const SELU_GAMMA = 1.0507009873554805;

export const gradientRules: Record<string, GradientEntry> = {
  Add: ({ toInput, dy0 }) => [toInput(0, () => dy0), toInput(1, () => dy0)],
  Sub: ({ g, toInput, dy0 }) => [toInput(0, () => dy0), toInput(1, () => g.neg(dy0))],
  Mul: ({ toInput, times, x }) => [toInput(0, () => times(x(1))), toInput(1, () => times(x(0)))],
  Div: ({ g, toInput, times, x, y, dy0 }) => [
    toInput(0, () => g.div(dy0, x(1))),
    toInput(1, () => g.neg(g.div(times(y(0)), x(1)))),
  ],
  Neg: ({ g, dy0 }) => [g.neg(dy0)],
  // dy times the 0/1 mask: onnxruntime's Where with a scalar branch runs about 3x slower than
  // Cast and Mul, a few percent of a compute-bound step.
  Relu: ({ g, y, dy0, scalar, dtype }) => [g.mul(dy0, g.cast(g.gt(y(0), scalar(0)), dtype))],
  LeakyRelu: ({ g, node, x, dy0, scalar }) => [
    g.where(g.gt(x(0), scalar(0)), dy0, g.mul(dy0, scalar(node.attrs.float("alpha", 0.01)))),
  ],
  Sigmoid: unary(({ g, y, scalar }) => g.mul(y(0), g.sub(scalar(1), y(0)))),
  Tanh: unary(({ g, y, scalar }) => g.sub(scalar(1), g.mul(y(0), y(0)))),
  Erf: unary(({ g, x, scalar }) => g.mul(g.exp(g.neg(g.mul(x(0), x(0)))), scalar(2 / Math.sqrt(Math.PI)))),
  Gelu: gelu,
  Exp: unary(({ y }) => y(0)),
  Log: ({ g, x, dy0 }) => [g.div(dy0, x(0))],
  // 0 where the root is 0 (the derivative is +inf there): torch.norm exports as the Sqrt of a sum
  // of squares, and a zero vector then gets PyTorch's norm gradient, 0, instead of inf · 0 = NaN.
  // Elsewhere the same bits.
  Sqrt: ({ g, y, dy0, scalar }) => [
    g.where(g.equal(y(0), scalar(0)), scalar(0), g.div(g.mul(dy0, scalar(0.5)), y(0))),
  ],
  Reciprocal: ({ g, y, times }) => [g.neg(times(g.mul(y(0), y(0))))],
  Abs: unary(({ g, x }) => g.op("Sign", [x(0)])),
  Pow: pow,
  Softplus: unary(({ g, x }) => g.op("Sigmoid", [x(0)])),
  Elu: ({ g, node, x, y, dy0, scalar }) => {
    const negative = g.mul(dy0, g.add(y(0), scalar(node.attrs.float("alpha", 1))));
    return [g.where(g.gt(x(0), scalar(0)), dy0, negative)];
  },
  HardSigmoid: hardSigmoid,
  HardSwish: hardSwish,
  PRelu: prelu,
  Clip: clip,
  Max: extremum,
  Min: extremum,
  Sum: ({ inputs, toInput, dy0 }) => inputs.map((_, i) => toInput(i, () => dy0)),
  ReduceMax: reducedExtremum(18),
  ReduceMin: reducedExtremum(18),
  GlobalMaxPool: reducedExtremum(18),
  Tile: tile,
  Trilu: ({ g, node, inputs, dy0 }) => [
    g.op("Trilu", inputs[1] ? [dy0, inputs[1]] : [dy0], { upper: node.attrs.int("upper", 1) }),
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
  Expand: ({ toInput, dy0 }) => [toInput(0, () => dy0)],
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  Gather: gather,
  Where: ({ g, toInput, x, dy0, scalar }) => [
    undefined,
    toInput(1, () => g.where(x(0), dy0, scalar(0))),
    toInput(2, () => g.where(x(0), scalar(0), dy0)),
  ],
  Identity: identity,
  // In inference mode Dropout is the identity; the training-mode rewrite turns it into a mask product.
  Dropout: identity,
  Cast: ({ g, xInfo, dy0 }) => [isFloat(xInfo(0).dtype) ? g.cast(dy0, xInfo(0).dtype) : undefined],
  ReduceSum: (c) => [isNoop(c, 13) ? c.dy0 : reduceSumLike(c, 13)],
  ReduceMean: (c) => {
    if (isNoop(c, 18)) return [c.dy0];
    const grad = reduceSumLike(c, 18);
    return [c.g.div(grad, reducedCount(c.g, c.x(0), c.xInfo(0).shape, c.y(0), c.yInfo(0).shape, c.dtype))];
  },
  LayerNormalization: layerNormalization,
  BatchNormalization: batchNormalization,
  InstanceNormalization: instanceNormalization,
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: ({ g, x, y, xInfo, yInfo, dy0, dtype }) => {
    const count = reducedCount(g, x(0), xInfo(0).shape, y(0), yInfo(0).shape, dtype);
    return [g.expand(g.div(dy0, count), g.shapeOf(x(0), xInfo(0).shape))];
  },
  Sin: unary(({ g, x }) => g.op("Cos", [x(0)])),
  Cos: unary(({ g, x }) => g.neg(g.op("Sin", [x(0)]))),
  Selu: ({ g, node, x, y, dy0, scalar }) => {
    const gamma = node.attrs.float("gamma", SELU_GAMMA);
    const alpha = node.attrs.float("alpha", SELU_ALPHA);
    // Below zero y = gamma alpha (e^x - 1), so dy/dx = y + gamma alpha.
    const negative = g.add(y(0), scalar(gamma * alpha));
    return [g.mul(dy0, g.where(g.gt(x(0), scalar(0)), scalar(gamma), negative))];
  },
  Celu: unary(({ g, node, x, scalar }) => {
    const alpha = node.attrs.float("alpha", 1);
    return g.where(g.gt(x(0), scalar(0)), scalar(1), g.exp(g.div(x(0), scalar(alpha))));
  }),
  Mish: unary(({ g, x, scalar }) => {
    // y = x tanh(softplus(x)): tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2)
    const t = g.op("Tanh", [g.op("Softplus", [x(0)])]);
    const sech2 = g.sub(scalar(1), g.mul(t, t));
    return g.add(t, g.mul(g.mul(x(0), g.op("Sigmoid", [x(0)])), sech2));
  }),
  Softsign: unary(({ g, x, scalar }) => {
    const d = g.add(scalar(1), g.op("Abs", [x(0)]));
    return g.reciprocal(g.mul(d, d));
  }),
  CumSum: cumSum,
  ReduceL1: reduction(({ g, x }) => g.op("Sign", [x(0)])),
  ReduceSumSquare: reduction(({ g, x, scalar }) => g.mul(x(0), scalar(2))),
  // x / ||x||, and 0 where the norm is 0 (as torch.linalg.norm's gradient).
  ReduceL2: reduction((c, x, kept) => {
    const { g } = c;
    const norm = kept(c.y(0));
    const zero = g.equal(norm, c.scalar(0));
    return g.where(zero, c.scalar(0), g.div(x, g.where(zero, c.scalar(1), norm)));
  }),
  ReduceLogSumExp: reduction((c, x, kept) => c.g.exp(c.g.sub(x, kept(c.y(0))))),
  ReduceProd: reduction(reduceProdLocal),
  GatherElements: gatherElements,
  // The values' gradient goes back to where each came from; the indices carry none.
  TopK: (c) => [
    c.g.op("ScatterElements", [zerosLike(c, c.x(0)), c.y(1), c.dy0], {
      axis: c.node.attrs.int("axis", -1),
      reduction: "add",
    }),
  ],
  OneHot: NON_DIFFERENTIABLE,
  // Noise: it depends on its input's shape only (the reparameterization's gradient flows around it).
  RandomNormalLike: NON_DIFFERENTIABLE,
  RandomUniformLike: NON_DIFFERENTIABLE,
  RandomNormal: NON_DIFFERENTIABLE,
  RandomUniform: NON_DIFFERENTIABLE,
  ScatterElements: scatter("GatherElements"),
  GatherND: (c) => [c.g.op("ScatterND", [zerosLike(c, c.x(0)), c.x(1), c.dy0], { reduction: "add" })],
  ScatterND: scatter("GatherND"),
  DepthToSpace: depthToSpace,
  SpaceToDepth: ({ g, node, dy0 }) => [
    g.op("DepthToSpace", [dy0], { blocksize: node.attrs.int("blocksize", 1), mode: "DCR" }),
  ],
  GroupNormalization: groupNormalization,
  Resize: resize,
  GridSample: gridSample,
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
  Hardmax: NON_DIFFERENTIABLE,
};
