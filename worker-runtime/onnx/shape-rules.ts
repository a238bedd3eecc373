import { broadcastShapes, dimProduct, dimQuotient, dimSum, normalizeAxis } from "./dims.ts";
import { type DType, dtypeFromOnnx, isFloat, tensorNumbers } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import type { Dim, GraphNode } from "./model.ts";
import { ruleTable } from "./rule-table.ts";

export interface ValueInfo {
  dtype: DType;
  shape: Dim[];
}

/** A value known while building: small integer (shape) tensors and Constant nodes. Strings are symbolic. */
export interface KnownValue {
  dtype: DType;
  dims: number[];
  values: Dim[];
}

export interface ShapeContext {
  node: GraphNode;
  opset: number;
  /** Undefined for an omitted optional input. */
  input(i: number): ValueInfo | undefined;
  value(i: number): KnownValue | undefined;
  /** A fresh symbolic dimension for what cannot be inferred. */
  fresh(): string;
}

export type ShapeRule = (ctx: ShapeContext) => ValueInfo[];

/** Random*Like: the input's shape, in the declared float dtype or the input's. */
const randomLike: ShapeRule = (ctx) => {
  const like = need(ctx, 0);
  const declared = ctx.node.attrs.has("dtype") ? dtypeFromOnnx(ctx.node.attrs.int("dtype", 1)) : like.dtype;
  if (declared === undefined || !isFloat(declared)) {
    throw new OnnxError("UNSUPPORTED_DTYPE", `${ctx.node.opType} must draw floats`, ctx.node.name);
  }
  return [{ dtype: declared, shape: like.shape }];
};

/** RandomNormal/RandomUniform (torch.randn(3, 4)): the shape attribute, in the declared float dtype. */
const randomOfShape: ShapeRule = (ctx) => {
  const dtype = dtypeFromOnnx(ctx.node.attrs.int("dtype", 1));
  if (dtype === undefined || !isFloat(dtype)) {
    throw new OnnxError("UNSUPPORTED_DTYPE", `${ctx.node.opType} must draw floats`, ctx.node.name);
  }
  const shape = ctx.node.attrs.ints("shape");
  if (!shape || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new OnnxError(
      "INVALID_MODEL",
      `${ctx.node.opType} needs a shape attribute of sizes 0 or more`,
      ctx.node.name,
    );
  }
  return [{ dtype, shape }];
};

function need(ctx: ShapeContext, i: number): ValueInfo {
  const info = ctx.input(i);
  if (!info) throw new OnnxError("INVALID_MODEL", `input ${i} is required`, ctx.node.name);
  return info;
}

function needValue(ctx: ShapeContext, i: number, what: string): Dim[] {
  const v = ctx.value(i);
  if (!v) {
    throw new OnnxError(
      "SHAPE_MISMATCH",
      `${what} (input ${i}) must be known before running the graph`,
      ctx.node.name,
    );
  }
  return v.values;
}

function numbers(ctx: ShapeContext, values: Dim[], what: string): number[] {
  if (values.some((v) => typeof v !== "number")) {
    throw new OnnxError("SHAPE_MISMATCH", `${what} must be constant, got [${values}]`, ctx.node.name);
  }
  return values as number[];
}

const sameAsInput: ShapeRule = (ctx) => [need(ctx, 0)];

const broadcasting: ShapeRule = (ctx) => {
  const a = need(ctx, 0);
  return [{ dtype: a.dtype, shape: broadcastShapes([a.shape, need(ctx, 1).shape]) }];
};

const variadicBroadcasting: ShapeRule = (ctx) => [
  { dtype: need(ctx, 0).dtype, shape: broadcastShapes(ctx.node.inputs.map((_, i) => need(ctx, i).shape)) },
];

const comparison: ShapeRule = (ctx) => [
  { dtype: "bool", shape: broadcastShapes([need(ctx, 0).shape, need(ctx, 1).shape]) },
];

/** Axes from the attribute (older opsets) or the second input (newer ones). */
export function reductionAxes(
  ctx: Pick<ShapeContext, "node" | "value">,
  axesAsInputSince: number,
  opset: number,
): number[] | undefined {
  if (opset < axesAsInputSince) return ctx.node.attrs.ints("axes");
  if (!ctx.node.inputs[1]) return undefined;
  const v = ctx.value(1);
  if (!v) throw new OnnxError("SHAPE_MISMATCH", "reduction axes must be constant", ctx.node.name);
  return v.values as number[];
}

function reduction(axesAsInputSince: number): ShapeRule {
  return (ctx) => {
    const x = need(ctx, 0);
    const rank = x.shape.length;
    const keep = ctx.node.attrs.int("keepdims", 1) === 1;
    const given = reductionAxes(ctx, axesAsInputSince, ctx.opset);
    const noop = ctx.node.attrs.int("noop_with_empty_axes", 0) === 1;
    if ((given === undefined || given.length === 0) && noop) return [x];
    const axes = new Set(
      (given?.length ? given : x.shape.map((_, i) => i)).map((a) => normalizeAxis(a, rank)),
    );
    const shape = x.shape.flatMap((d, i) => (axes.has(i) ? (keep ? [1] : []) : [d]));
    return [{ dtype: x.dtype, shape }];
  };
}

export interface EinsumTerms {
  inputs: string[];
  output: string;
}

/**
 * An einsum equation without ellipsis, output explicit or implicit (the letters used once, in
 * alphabetical order, as numpy defines it).
 */
export function einsumTerms(node: GraphNode): EinsumTerms {
  const equation = node.attrs.string("equation", "").replace(/\s/g, "");
  if (equation.includes(".")) {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      `Einsum with an ellipsis ("${equation}") is not supported`,
      node.name,
    );
  }
  const [left, right] = equation.split("->");
  const inputs = (left ?? "").split(",");
  if (right !== undefined) return { inputs, output: right };
  const letters = inputs.join("");
  const output = [...new Set(letters)]
    .filter((l) => letters.indexOf(l) === letters.lastIndexOf(l))
    .sort()
    .join("");
  return { inputs, output };
}

const einsum: ShapeRule = (ctx) => {
  const { inputs, output } = einsumTerms(ctx.node);
  const sizes = new Map<string, Dim>();
  inputs.forEach((term, i) => {
    const shape = need(ctx, i).shape;
    [...term].forEach((letter, axis) => {
      const known = sizes.get(letter);
      sizes.set(letter, known === undefined || known === 1 ? shape[axis]! : known);
    });
  });
  return [{ dtype: need(ctx, 0).dtype, shape: [...output].map((l) => sizes.get(l) ?? ctx.fresh()) }];
};

const argReduction: ShapeRule = (ctx) => {
  const x = need(ctx, 0);
  const axis = normalizeAxis(ctx.node.attrs.int("axis", 0), x.shape.length);
  const keep = ctx.node.attrs.int("keepdims", 1) === 1;
  return [{ dtype: "int64", shape: x.shape.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d])) }];
};

function matmulShape(a: Dim[], b: Dim[]): Dim[] {
  const a2 = a.length === 1 ? [1, ...a] : a;
  const b2 = b.length === 1 ? [...b, 1] : b;
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  const out = [...batch, a2[a2.length - 2]!, b2[b2.length - 1]!];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.splice(out.length - 1, 1);
  return out;
}

/** Output spatial sizes of Conv and the pools, with explicit or automatic padding. */
export function convOutputSpatial(
  ctx: ShapeContext,
  inputSpatial: Dim[],
  kernel: number[],
  ceil: boolean,
): { spatial: Dim[]; pads: number[] } {
  const n = kernel.length;
  const strides = ctx.node.attrs.ints("strides") ?? kernel.map(() => 1);
  const dilations = ctx.node.attrs.ints("dilations") ?? kernel.map(() => 1);
  const autoPad = ctx.node.attrs.string("auto_pad", "NOTSET");
  let pads = ctx.node.attrs.ints("pads") ?? new Array(2 * n).fill(0);
  const spatial: Dim[] = [];
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    pads = new Array(2 * n).fill(0);
    for (let i = 0; i < n; i++) {
      const size = inputSpatial[i]!;
      if (typeof size !== "number")
        throw new OnnxError("SHAPE_MISMATCH", "auto_pad needs static spatial sizes", ctx.node.name);
      const out = Math.ceil(size / strides[i]!);
      const total = Math.max(0, (out - 1) * strides[i]! + dilations[i]! * (kernel[i]! - 1) + 1 - size);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === "SAME_UPPER" ? small : total - small;
      pads[i + n] = total - pads[i]!;
      spatial.push(out);
    }
    return { spatial, pads };
  }
  for (let i = 0; i < n; i++) {
    const size = inputSpatial[i]!;
    if (typeof size !== "number") {
      spatial.push(ctx.fresh());
      continue;
    }
    const span = size + pads[i]! + pads[i + n]! - dilations[i]! * (kernel[i]! - 1) - 1;
    const out = (ceil ? Math.ceil(span / strides[i]!) : Math.floor(span / strides[i]!)) + 1;
    // ceil_mode: the last window must start inside the input or the left padding (as PyTorch does).
    spatial.push(ceil && (out - 1) * strides[i]! >= size + pads[i]! ? out - 1 : out);
  }
  return { spatial, pads };
}

/**
 * ConvTranspose geometry: explicit pads and output_padding, or pads derived from output_shape
 * the way the ONNX specification derives them.
 */
export function convTransposeGeometry(
  node: GraphNode,
  inputSpatial: readonly number[],
  kernel: readonly number[],
): { spatial: number[]; pads: number[]; outputPadding: number[]; strides: number[]; dilations: number[] } {
  const n = kernel.length;
  const strides = node.attrs.ints("strides") ?? kernel.map(() => 1);
  const dilations = node.attrs.ints("dilations") ?? kernel.map(() => 1);
  const outputPadding = node.attrs.ints("output_padding") ?? kernel.map(() => 0);
  const natural = (i: number) =>
    strides[i]! * (inputSpatial[i]! - 1) + outputPadding[i]! + (kernel[i]! - 1) * dilations[i]! + 1;
  const outputShape = node.attrs.ints("output_shape");
  if (outputShape) {
    const requested = outputShape.slice(-n);
    const upper = node.attrs.string("auto_pad", "NOTSET") === "SAME_UPPER";
    const pads = new Array(2 * n).fill(0);
    for (let i = 0; i < n; i++) {
      const total = natural(i) - requested[i]!;
      const half = Math.floor(total / 2);
      pads[i] = upper ? half : total - half;
      pads[i + n] = total - pads[i]!;
    }
    return { spatial: requested, pads, outputPadding, strides, dilations };
  }
  const pads = node.attrs.ints("pads") ?? new Array(2 * n).fill(0);
  const spatial = kernel.map((_, i) => natural(i) - pads[i]! - pads[i + n]!);
  return { spatial, pads, outputPadding, strides, dilations };
}

const pool: ShapeRule = (ctx) => {
  const x = need(ctx, 0);
  const kernel = ctx.node.attrs.require(ctx.node.attrs.ints("kernel_shape"), "kernel_shape");
  const ceil = ctx.node.attrs.int("ceil_mode", 0) === 1;
  const { spatial } = convOutputSpatial(ctx, x.shape.slice(2), kernel, ceil);
  const out: ValueInfo = { dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, ...spatial] };
  return [out, { dtype: "int64", shape: out.shape }];
};

/** LSTM, GRU, RNN: Y, Y_h (and LSTM's Y_c), time-major unless layout = 1. */
const recurrent: ShapeRule = (ctx) => {
  const x = need(ctx, 0);
  const batchFirst = ctx.node.attrs.int("layout", 0) === 1;
  const hidden = ctx.node.attrs.int("hidden_size", 0);
  const directions = ctx.node.attrs.string("direction", "forward") === "bidirectional" ? 2 : 1;
  const [steps, batch] = batchFirst ? [x.shape[1]!, x.shape[0]!] : [x.shape[0]!, x.shape[1]!];
  const y = batchFirst ? [batch, steps, directions, hidden] : [steps, directions, batch, hidden];
  const state = batchFirst ? [batch, directions, hidden] : [directions, batch, hidden];
  return [
    { dtype: x.dtype, shape: y },
    { dtype: x.dtype, shape: state },
    { dtype: x.dtype, shape: state },
  ];
};

export const shapeRules = ruleTable<ShapeRule>({
  Identity: sameAsInput,
  Neg: sameAsInput,
  Relu: sameAsInput,
  LeakyRelu: sameAsInput,
  Sigmoid: sameAsInput,
  Tanh: sameAsInput,
  Erf: sameAsInput,
  Gelu: sameAsInput,
  Exp: sameAsInput,
  Log: sameAsInput,
  Sqrt: sameAsInput,
  Reciprocal: sameAsInput,
  Abs: sameAsInput,
  Softmax: sameAsInput,
  LogSoftmax: sameAsInput,
  Sign: sameAsInput,
  Floor: sameAsInput,
  Ceil: sameAsInput,
  Round: sameAsInput,
  Trilu: sameAsInput,
  And: comparison,
  Or: comparison,
  LessOrEqual: comparison,
  GreaterOrEqual: comparison,
  ReduceMax: reduction(18),
  ReduceMin: reduction(18),
  ArgMax: argReduction,
  ArgMin: argReduction,
  GlobalMaxPool: (ctx) => {
    const x = need(ctx, 0);
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (i < 2 ? d : 1)) }];
  },
  Tile: (ctx) => {
    const x = need(ctx, 0);
    const repeats = numbers(ctx, needValue(ctx, 1, "Tile repeats"), "Tile repeats");
    const shape = x.shape.map((d, i) =>
      repeats[i] === 1 ? d : typeof d === "number" ? d * repeats[i]! : ctx.fresh(),
    );
    return [{ dtype: x.dtype, shape }];
  },
  Softplus: sameAsInput,
  Elu: sameAsInput,
  HardSigmoid: sameAsInput,
  HardSwish: sameAsInput,
  Clip: sameAsInput,
  PRelu: (ctx) => [need(ctx, 0)],
  Max: variadicBroadcasting,
  Min: variadicBroadcasting,
  Sum: variadicBroadcasting,
  Add: broadcasting,
  Sub: broadcasting,
  Mul: broadcasting,
  Div: broadcasting,
  Pow: broadcasting,
  Mod: broadcasting,
  Equal: comparison,
  Less: comparison,
  Greater: comparison,
  Not: sameAsInput,
  Where: (ctx) => [
    {
      dtype: need(ctx, 1).dtype,
      shape: broadcastShapes([need(ctx, 0).shape, need(ctx, 1).shape, need(ctx, 2).shape]),
    },
  ],
  Cast: (ctx) => {
    const to = dtypeFromOnnx(ctx.node.attrs.int("to", 0));
    if (!to)
      throw new OnnxError("UNSUPPORTED_DTYPE", `Cast to type ${ctx.node.attrs.int("to", 0)}`, ctx.node.name);
    return [{ dtype: to, shape: need(ctx, 0).shape }];
  },
  Dropout: (ctx) => [need(ctx, 0), { dtype: "bool", shape: need(ctx, 0).shape }],
  RandomNormalLike: randomLike,
  RandomUniformLike: randomLike,
  RandomNormal: randomOfShape,
  RandomUniform: randomOfShape,
  Gemm: (ctx) => {
    const a = need(ctx, 0).shape;
    const b = need(ctx, 1).shape;
    const m = ctx.node.attrs.int("transA", 0) ? a[1]! : a[0]!;
    const n = ctx.node.attrs.int("transB", 0) ? b[0]! : b[1]!;
    return [{ dtype: need(ctx, 0).dtype, shape: [m, n] }];
  },
  Einsum: einsum,
  MatMul: (ctx) => [
    { dtype: need(ctx, 0).dtype, shape: matmulShape(need(ctx, 0).shape, need(ctx, 1).shape) },
  ],
  Reshape: (ctx) => {
    const x = need(ctx, 0);
    const target = needValue(ctx, 1, "Reshape shape");
    const allowZero = ctx.node.attrs.int("allowzero", 0) === 1;
    const shape = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i]! : d));
    const unknown = shape.indexOf(-1);
    if (unknown >= 0) {
      const rest = dimProduct(shape.filter((_, i) => i !== unknown));
      shape[unknown] = dimQuotient(dimProduct(x.shape), rest) ?? ctx.fresh();
    }
    return [{ dtype: x.dtype, shape }];
  },
  Flatten: (ctx) => {
    const x = need(ctx, 0);
    const axis = normalizeAxis(ctx.node.attrs.int("axis", 1), x.shape.length);
    return [{ dtype: x.dtype, shape: [dimProduct(x.shape.slice(0, axis)), dimProduct(x.shape.slice(axis))] }];
  },
  Transpose: (ctx) => {
    const x = need(ctx, 0);
    const perm = ctx.node.attrs.ints("perm") ?? x.shape.map((_, i) => x.shape.length - 1 - i);
    return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }];
  },
  Squeeze: (ctx) => {
    const x = need(ctx, 0);
    const given = ctx.node.inputs[1]
      ? numbers(ctx, needValue(ctx, 1, "Squeeze axes"), "Squeeze axes")
      : undefined;
    const axes = new Set(
      given
        ? given.map((a) => normalizeAxis(a, x.shape.length))
        : x.shape.flatMap((d, i) => (d === 1 ? [i] : [])),
    );
    return [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !axes.has(i)) }];
  },
  Unsqueeze: (ctx) => {
    const x = need(ctx, 0);
    const given = numbers(ctx, needValue(ctx, 1, "Unsqueeze axes"), "Unsqueeze axes");
    const rank = x.shape.length + given.length;
    const axes = new Set(given.map((a) => normalizeAxis(a, rank)));
    const rest = [...x.shape];
    const shape = Array.from({ length: rank }, (_, i) => (axes.has(i) ? 1 : rest.shift()!));
    return [{ dtype: x.dtype, shape }];
  },
  Concat: (ctx) => {
    const first = need(ctx, 0);
    const axis = normalizeAxis(ctx.node.attrs.int("axis", 0), first.shape.length);
    const shape = [...first.shape];
    shape[axis] = dimSum(ctx.node.inputs.map((_, i) => need(ctx, i).shape[axis]!));
    return [{ dtype: first.dtype, shape }];
  },
  Split: (ctx) => {
    const x = need(ctx, 0);
    const axis = normalizeAxis(ctx.node.attrs.int("axis", 0), x.shape.length);
    const sizes = splitSizes(ctx, x.shape[axis]!);
    return sizes.map((size) => {
      const shape = [...x.shape];
      shape[axis] = size;
      return { dtype: x.dtype, shape };
    });
  },
  Slice: (ctx) => {
    const x = need(ctx, 0);
    const shape = [...x.shape];
    for (const s of sliceRanges(ctx, x.shape)) shape[s.axis] = s.length ?? ctx.fresh();
    return [{ dtype: x.dtype, shape }];
  },
  Pad: (ctx) => {
    const x = need(ctx, 0);
    const rank = x.shape.length;
    const { begin, end } = padAmounts(ctx, rank);
    const shape = x.shape.map((d, i) =>
      begin[i] === 0 && end[i] === 0 ? d : typeof d === "number" ? d + begin[i]! + end[i]! : ctx.fresh(),
    );
    return [{ dtype: x.dtype, shape }];
  },
  Gather: (ctx) => {
    const x = need(ctx, 0);
    const indices = need(ctx, 1);
    const axis = normalizeAxis(ctx.node.attrs.int("axis", 0), x.shape.length);
    return [
      { dtype: x.dtype, shape: [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)] },
    ];
  },
  Expand: (ctx) => {
    const x = need(ctx, 0);
    return [{ dtype: x.dtype, shape: broadcastShapes([x.shape, needValue(ctx, 1, "Expand shape")]) }];
  },
  ReduceSum: reduction(13),
  ReduceMean: reduction(18),
  LayerNormalization: (ctx) => {
    const x = need(ctx, 0);
    const axis = normalizeAxis(ctx.node.attrs.int("axis", -1), x.shape.length);
    // stash_type 1 (the default) keeps the statistics in float32 whatever the input type.
    const statsType = ctx.node.attrs.int("stash_type", 1) === 1 ? "float32" : x.dtype;
    const stats: ValueInfo = { dtype: statsType, shape: x.shape.map((d, i) => (i < axis ? d : 1)) };
    return [x, stats, stats];
  },
  InstanceNormalization: sameAsInput,
  BatchNormalization: (ctx) => {
    const stat: ValueInfo = need(ctx, 3);
    return [need(ctx, 0), stat, stat];
  },
  Conv: (ctx) => {
    const x = need(ctx, 0);
    const w = need(ctx, 1);
    const kernel = ctx.node.attrs.ints("kernel_shape") ?? (w.shape.slice(2) as number[]);
    const { spatial } = convOutputSpatial(ctx, x.shape.slice(2), kernel, false);
    return [{ dtype: x.dtype, shape: [x.shape[0]!, w.shape[0]!, ...spatial] }];
  },
  ConvTranspose: (ctx) => {
    const x = need(ctx, 0);
    const w = need(ctx, 1);
    const spatial = x.shape.slice(2);
    if (!spatial.every((d) => typeof d === "number") || !w.shape.every((d) => typeof d === "number")) {
      throw new OnnxError(
        "SHAPE_MISMATCH",
        "ConvTranspose needs static spatial and weight sizes",
        ctx.node.name,
      );
    }
    const weight = w.shape as number[];
    const kernel = ctx.node.attrs.ints("kernel_shape") ?? weight.slice(2);
    const geometry = convTransposeGeometry(ctx.node, spatial as number[], kernel);
    const channels = weight[1]! * ctx.node.attrs.int("group", 1);
    return [{ dtype: x.dtype, shape: [x.shape[0]!, channels, ...geometry.spatial] }];
  },
  MaxPool: pool,
  AveragePool: pool,
  GlobalAveragePool: (ctx) => {
    const x = need(ctx, 0);
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (i < 2 ? d : 1)) }];
  },
  Shape: (ctx) => {
    const rank = need(ctx, 0).shape.length;
    const start = normalizeAxis(ctx.node.attrs.int("start", 0), rank);
    const end = ctx.node.attrs.has("end") ? normalizeAxis(ctx.node.attrs.int("end", rank), rank) : rank;
    return [{ dtype: "int64", shape: [Math.max(0, Math.min(rank, end) - Math.max(0, start))] }];
  },
  Size: () => [{ dtype: "int64", shape: [] }],
  Constant: (ctx) => {
    const v = constantValue(ctx.node);
    return [{ dtype: v.dtype, shape: v.dims }];
  },
  ConstantOfShape: (ctx) => [
    {
      dtype: ctx.node.attrs.tensor("value")?.dtype ?? "float32",
      shape: needValue(ctx, 0, "ConstantOfShape shape"),
    },
  ],
  Sin: sameAsInput,
  Cos: sameAsInput,
  Selu: sameAsInput,
  Celu: sameAsInput,
  Mish: sameAsInput,
  Softsign: sameAsInput,
  Hardmax: sameAsInput,
  CumSum: sameAsInput,
  ReduceL1: reduction(18),
  ReduceL2: reduction(18),
  ReduceSumSquare: reduction(18),
  ReduceProd: reduction(18),
  ReduceLogSumExp: reduction(18),
  GatherElements: (ctx) => [{ dtype: need(ctx, 0).dtype, shape: need(ctx, 1).shape }],
  TopK: (ctx) => {
    const x = need(ctx, 0);
    const axis = normalizeAxis(ctx.node.attrs.int("axis", -1), x.shape.length);
    const [k] = needValue(ctx, 1, "TopK's k");
    const shape = x.shape.map((d, i) => (i === axis ? k! : d));
    return [
      { dtype: x.dtype, shape },
      { dtype: "int64", shape },
    ];
  },
  OneHot: (ctx) => {
    const indices = need(ctx, 0);
    const [depth] = needValue(ctx, 1, "OneHot's depth");
    const axis = normalizeAxis(ctx.node.attrs.int("axis", -1), indices.shape.length + 1);
    const shape = [...indices.shape];
    shape.splice(axis, 0, depth!);
    return [{ dtype: need(ctx, 2).dtype, shape }];
  },
  ScatterElements: sameAsInput,
  ScatterND: sameAsInput,
  GatherND: (ctx) => {
    const data = need(ctx, 0).shape;
    const indices = need(ctx, 1).shape;
    const batch = ctx.node.attrs.int("batch_dims", 0);
    const depth = indices.at(-1);
    if (typeof depth !== "number") {
      throw new OnnxError("SHAPE_MISMATCH", "GatherND needs a static index depth", ctx.node.name);
    }
    return [{ dtype: need(ctx, 0).dtype, shape: [...indices.slice(0, -1), ...data.slice(batch + depth)] }];
  },
  DepthToSpace: (ctx) => {
    const x = need(ctx, 0).shape;
    const b = ctx.node.attrs.int("blocksize", 1);
    const channels = dimQuotient(x[1]!, b * b) ?? ctx.fresh();
    return [
      { dtype: need(ctx, 0).dtype, shape: [x[0]!, channels, dimProduct([x[2]!, b]), dimProduct([x[3]!, b])] },
    ];
  },
  SpaceToDepth: (ctx) => {
    const x = need(ctx, 0).shape;
    const b = ctx.node.attrs.int("blocksize", 1);
    const spatial = [x[2]!, x[3]!].map((d) => dimQuotient(d, b) ?? ctx.fresh());
    return [{ dtype: need(ctx, 0).dtype, shape: [x[0]!, dimProduct([x[1]!, b * b]), ...spatial] }];
  },
  GroupNormalization: sameAsInput,
  // [N, C, spatial...] sampled at grid [N, out spatial..., rank]: [N, C, out spatial...].
  GridSample: (ctx) => {
    const x = need(ctx, 0);
    const grid = need(ctx, 1).shape;
    return [{ dtype: x.dtype, shape: [x.shape[0]!, x.shape[1]!, ...grid.slice(1, -1)] }];
  },
  LSTM: recurrent,
  GRU: recurrent,
  RNN: recurrent,
  Resize: (ctx) => {
    const x = need(ctx, 0);
    const { shape } = resizeGeometry(ctx, x.shape);
    return [{ dtype: x.dtype, shape: shape.map((d) => d ?? ctx.fresh()) }];
  },
  Range: (ctx) => {
    const range = rangeOf(ctx);
    return [{ dtype: need(ctx, 0).dtype, shape: [range?.length ?? ctx.fresh()] }];
  },
});

/** Range's constant start and delta and its element count, or undefined while an input is unknown. */
export function rangeOf(
  ctx: Pick<ShapeContext, "node" | "value">,
): { start: number; delta: number; length: number } | undefined {
  const [start, limit, delta] = [0, 1, 2].map((i) => ctx.value(i)?.values[0]);
  if (typeof start !== "number" || typeof limit !== "number" || typeof delta !== "number") return undefined;
  // onnxruntime refuses delta 0 only when it runs; a count of Infinity or NaN would size a dimension first.
  const length = Math.max(0, Math.ceil((limit - start) / delta));
  if (delta === 0 || !Number.isFinite(length)) {
    throw new OnnxError(
      "INVALID_MODEL",
      `Range from ${start} to ${limit} by ${delta} has no finite length (accepted: finite start and limit, delta not 0)`,
      ctx.node.name,
    );
  }
  return { start, delta, length };
}

export function splitSizes(ctx: Pick<ShapeContext, "node" | "value" | "opset">, total: Dim): Dim[] {
  const count = ctx.node.outputs.length;
  if (ctx.node.inputs[1]) return ctx.value(1)?.values ?? [];
  const attr = ctx.node.attrs.ints("split");
  if (attr) return attr;
  if (typeof total !== "number") {
    throw new OnnxError(
      "SHAPE_MISMATCH",
      "Split of a symbolic dimension needs explicit sizes",
      ctx.node.name,
    );
  }
  const chunk = Math.ceil(total / count);
  return Array.from({ length: count }, (_, i) => Math.max(0, Math.min(chunk, total - i * chunk)));
}

export interface SliceRange {
  axis: number;
  start: number;
  end: number;
  step: number;
  /** Undefined when the sliced dimension is symbolic and not taken whole. */
  length: Dim | undefined;
}

/** Slice's starts/ends/axes/steps inputs, clamped like the ONNX reference does. */
export function sliceRanges(ctx: Pick<ShapeContext, "node" | "value">, shape: readonly Dim[]): SliceRange[] {
  const read = (i: number, what: string): number[] | undefined => {
    if (!ctx.node.inputs[i]) return undefined;
    const v = ctx.value(i);
    if (!v || v.values.some((x) => typeof x !== "number")) {
      throw new OnnxError("SHAPE_MISMATCH", `Slice ${what} must be constant`, ctx.node.name);
    }
    return v.values as number[];
  };
  const starts = read(1, "starts") ?? [];
  const ends = read(2, "ends") ?? [];
  const axes = read(3, "axes") ?? starts.map((_, i) => i);
  const steps = read(4, "steps") ?? starts.map(() => 1);
  return axes.map((a, i) => {
    const axis = normalizeAxis(a, shape.length);
    const dim = shape[axis]!;
    const step = steps[i]!;
    // ONNX forbids it; a slice that never advances would have no end to fold or to size.
    if (step === 0) throw new OnnxError("INVALID_MODEL", `Slice has step 0 on axis ${axis}`, ctx.node.name);
    const rawStart = starts[i]!;
    const rawEnd = ends[i]!;
    if (typeof dim !== "number") {
      const whole = step === 1 && rawStart === 0 && rawEnd >= 2 ** 31 - 1;
      return { axis, start: rawStart, end: rawEnd, step, length: whole ? dim : undefined };
    }
    const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v < 0 ? v + dim : v));
    const start = step > 0 ? clamp(rawStart, 0, dim) : clamp(rawStart, -1, dim - 1);
    const end = step > 0 ? clamp(rawEnd, 0, dim) : clamp(rawEnd, -1, dim - 1);
    const length = Math.max(0, Math.ceil((end - start) / step));
    return { axis, start, end, step, length };
  });
}

/** The value of a Constant node, from whichever of its value attributes is set. */
export function constantValue(node: GraphNode): KnownValue {
  const tensor = node.attrs.tensor("value");
  if (tensor) return { dtype: tensor.dtype, dims: tensor.dims, values: tensorNumbers(tensor) };
  const a = node.attrs;
  if (a.has("value_float")) return { dtype: "float32", dims: [], values: [a.float("value_float", 0)] };
  if (a.has("value_int")) return { dtype: "int64", dims: [], values: [a.int("value_int", 0)] };
  const ints = a.ints("value_ints");
  if (ints) return { dtype: "int64", dims: [ints.length], values: ints };
  const floats = a.raw("value_floats")?.floats;
  if (floats) return { dtype: "float32", dims: [floats.length], values: floats };
  throw new OnnxError("INVALID_MODEL", "Constant has no supported value attribute", node.name);
}

/** Pad's amounts per axis (the pads input, with the axes input of opset 18). */
export function padAmounts(
  ctx: Pick<ShapeContext, "node" | "value">,
  rank: number,
): { begin: number[]; end: number[] } {
  const pads = ctx.value(1);
  if (!pads || pads.values.some((v) => typeof v !== "number")) {
    throw new OnnxError("SHAPE_MISMATCH", "Pad amounts must be constant", ctx.node.name);
  }
  const values = pads.values as number[];
  const axesValue = ctx.node.inputs[3] ? ctx.value(3) : undefined;
  const axes = axesValue
    ? (axesValue.values as number[]).map((a) => normalizeAxis(a, rank))
    : Array.from({ length: rank }, (_, i) => i);
  const begin = new Array(rank).fill(0);
  const end = new Array(rank).fill(0);
  axes.forEach((axis, i) => {
    begin[axis] = values[i]!;
    end[axis] = values[i + axes.length]!;
  });
  return { begin, end };
}

export interface ResizedAxis {
  axis: number;
  input: number;
  output: number;
  /** The scale Resize maps coordinates with: the one given, or output / input when sizes are. */
  scale: number;
}

/**
 * Resize's output shape (undefined where a symbolic dimension is resized) and the axes whose size
 * changes, from its scales or sizes input and the `axes` attribute of opset 18.
 */
export function resizeGeometry(
  ctx: Pick<ShapeContext, "node" | "value">,
  shape: readonly Dim[],
): { shape: Array<Dim | undefined>; axes: ResizedAxis[] } {
  const rank = shape.length;
  const listed = (ctx.node.attrs.ints("axes") ?? shape.map((_, i) => i)).map((a) => normalizeAxis(a, rank));
  const unknown = (what: string) =>
    new OnnxError("SHAPE_MISMATCH", `Resize ${what} must be known before running the graph`, ctx.node.name);
  const read = (i: number): Dim[] | undefined => {
    if (!ctx.node.inputs[i]) return undefined;
    const v = ctx.value(i);
    if (!v) throw unknown(i === 2 ? "scales" : "sizes");
    return v.values;
  };
  // Sizes may name a dimension symbolically where they keep it (F.interpolate(size=...) exports
  // Concat(Shape(x)[:2], size), the batch left symbolic); a resized dimension must be a number.
  const sizes = read(3);
  const scales = sizes ? undefined : read(2);
  if (!sizes && !scales) throw new OnnxError("INVALID_MODEL", "Resize needs scales or sizes", ctx.node.name);
  if (scales?.some((d) => typeof d !== "number")) throw unknown("scales");
  const out: Array<Dim | undefined> = [...shape];
  const axes: ResizedAxis[] = [];
  listed.forEach((axis, i) => {
    const input = shape[axis]!;
    const scale = scales?.[i];
    if (scale === 1 || (sizes && sizes[i] === input)) return;
    if (sizes && typeof sizes[i] !== "number") throw unknown(`sizes (axis ${axis})`);
    if (typeof input !== "number") {
      out[axis] = undefined;
      return;
    }
    // onnxruntime multiplies in float32 and truncates.
    const output = sizes
      ? (sizes[i] as number)
      : Math.floor(Math.fround(Math.fround(scale as number) * input));
    out[axis] = output;
    axes.push({ axis, input, output, scale: sizes ? output / input : (scale as number) });
  });
  return { shape: out, axes };
}
