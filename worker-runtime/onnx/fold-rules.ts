import { dimProduct, dimQuotient, normalizeAxis } from "./dims.ts";
import { isFloat } from "./dtypes.ts";
import type { Dim, GraphNode } from "./model.ts";
import { ruleTable } from "./rule-table.ts";
import {
  constantValue,
  type KnownValue,
  rangeOf,
  type ShapeContext,
  sliceRanges,
  type ValueInfo,
} from "./shape-rules.ts";

// Build-time evaluation of the small integer subgraphs exporters emit to compute shapes
// (Shape -> Gather -> Unsqueeze -> Concat -> Reshape). Values may hold symbolic dims, so a
// dynamic batch still folds everything around it.

export interface FoldContext extends Pick<ShapeContext, "value" | "input"> {
  node: GraphNode;
  outputs: ValueInfo[];
}

/** Undefined when the value cannot be known before running. */
export type FoldRule = (ctx: FoldContext) => KnownValue[] | undefined;

export const MAX_FOLDED_ELEMENTS = 4096;

/** The values of an output of `dims` whose element at `index` is `data`'s at `source(index)`. */
function rearranged(data: KnownValue, dims: readonly number[], source: (index: number[]) => number[]): Dim[] {
  const total = dims.reduce((a, b) => a * b, 1);
  const values: Dim[] = [];
  const index = new Array<number>(dims.length).fill(0);
  for (let n = 0; n < total; n++) {
    let remainder = n;
    for (let axis = dims.length - 1; axis >= 0; axis--) {
      index[axis] = remainder % dims[axis]!;
      remainder = Math.floor(remainder / dims[axis]!);
    }
    const at = source(index).reduce((flat, i, axis) => flat * data.dims[axis]! + i, 0);
    values.push(data.values[at]!);
  }
  return values;
}

const isKnownShape = (shape: readonly Dim[]): shape is number[] => shape.every((d) => typeof d === "number");

function sameValuesNewShape(ctx: FoldContext): KnownValue[] | undefined {
  const v = ctx.value(0);
  const out = ctx.outputs[0]!;
  if (!v || out.shape.some((d) => typeof d !== "number")) return undefined;
  return [{ dtype: v.dtype, dims: out.shape as number[], values: v.values }];
}

type Arithmetic = (a: Dim, b: Dim, integer: boolean) => Dim | undefined;

function elementwise(op: Arithmetic): FoldRule {
  return (ctx) => {
    const a = ctx.value(0);
    const b = ctx.value(1);
    const out = ctx.outputs[0]!;
    if (!a || !b || out.shape.some((d) => typeof d !== "number")) return undefined;
    const length = Math.max(a.values.length, b.values.length);
    if (a.values.length !== length && a.values.length !== 1) return undefined;
    if (b.values.length !== length && b.values.length !== 1) return undefined;
    const values: Dim[] = [];
    for (let i = 0; i < length; i++) {
      const r = op(
        a.values[a.values.length === 1 ? 0 : i]!,
        b.values[b.values.length === 1 ? 0 : i]!,
        !isFloat(a.dtype),
      );
      if (r === undefined) return undefined;
      values.push(r);
    }
    return [{ dtype: out.dtype, dims: out.shape as number[], values }];
  };
}

/** A comparison as 1 or 0; a symbolic dim is a size of at least 1, so it is never below 1. */
function comparison(
  test: (a: number, b: number) => boolean,
  symbolic: (a: Dim, b: Dim) => boolean | undefined,
): Arithmetic {
  return (a, b) => {
    const r = typeof a === "number" && typeof b === "number" ? test(a, b) : symbolic(a, b);
    return r === undefined ? undefined : Number(r);
  };
}

const belowOne = (d: Dim) => typeof d === "number" && d < 1;
/** a < b where one of them is symbolic: known only against a number below 1. */
const below = (a: Dim, b: Dim) => (belowOne(a) ? true : belowOne(b) ? false : undefined);

const numeric =
  (f: (a: number, b: number) => number): Arithmetic =>
  (a, b, integer) => {
    if (typeof a !== "number" || typeof b !== "number") return undefined;
    const r = f(a, b);
    return integer ? Math.trunc(r) : r;
  };

export const foldRules = ruleTable<FoldRule>({
  Constant: (ctx) => [constantValue(ctx.node)],
  Identity: (ctx) => (ctx.value(0) ? [ctx.value(0)!] : undefined),
  Shape: (ctx) => {
    const shape = ctx.input(0)!.shape;
    const rank = shape.length;
    const start = Math.max(0, normalizeAxis(ctx.node.attrs.int("start", 0), rank));
    const end = ctx.node.attrs.has("end")
      ? Math.min(rank, normalizeAxis(ctx.node.attrs.int("end", rank), rank))
      : rank;
    const values = shape.slice(start, end);
    return [{ dtype: "int64", dims: [values.length], values }];
  },
  Size: (ctx) => [{ dtype: "int64", dims: [], values: [dimProduct(ctx.input(0)!.shape)] }],
  // A product of dims (torch.var's sample count: ReduceProd over Gather(Shape(x))), symbolic ones too.
  ReduceProd: (ctx) => {
    const v = ctx.value(0);
    if (!v || v.dims.length > 1 || ctx.outputs[0]!.shape.some((d) => d !== 1)) return undefined;
    return [{ dtype: v.dtype, dims: ctx.outputs[0]!.shape as number[], values: [dimProduct(v.values)] }];
  },
  Cast: (ctx) => {
    const v = ctx.value(0);
    const dtype = ctx.outputs[0]!.dtype;
    if (!v) return undefined;
    const values = v.values.map((x) => (typeof x === "number" && !isFloat(dtype) ? Math.trunc(x) : x));
    return [{ dtype, dims: v.dims, values }];
  },
  Gather: (ctx) => {
    const data = ctx.value(0);
    const indices = ctx.value(1);
    if (!data || !indices || data.dims.length !== 1) return undefined;
    const n = data.values.length;
    const values: Dim[] = [];
    for (const i of indices.values) {
      if (typeof i !== "number") return undefined;
      values.push(data.values[i < 0 ? i + n : i]!);
    }
    return [{ dtype: data.dtype, dims: indices.dims, values }];
  },
  Unsqueeze: sameValuesNewShape,
  Squeeze: sameValuesNewShape,
  Reshape: sameValuesNewShape,
  Flatten: sameValuesNewShape,
  Concat: (ctx) => {
    const parts = ctx.node.inputs.map((_, i) => ctx.value(i));
    if (parts.some((p) => p?.dims.length !== 1)) return undefined;
    const values = parts.flatMap((p) => p!.values);
    return [{ dtype: parts[0]!.dtype, dims: [values.length], values }];
  },
  Slice: (ctx) => {
    const data = ctx.value(0);
    if (!data) return undefined;
    const ranges = sliceRanges(ctx, data.dims);
    const along = data.dims.map((size, axis) => {
      const range = ranges.find((r) => r.axis === axis);
      // A known value's dims are numbers, so every range of it has a numeric length.
      return range
        ? { start: range.start, step: range.step, length: range.length as number }
        : { start: 0, step: 1, length: size };
    });
    const dims = along.map((a) => a.length);
    const values = rearranged(data, dims, (index) =>
      index.map((i, axis) => along[axis]!.start + i * along[axis]!.step),
    );
    return [{ dtype: data.dtype, dims, values }];
  },
  // Exporters transpose small shape tables too (torch's F.pad amounts, reordered for ONNX).
  Transpose: (ctx) => {
    const data = ctx.value(0);
    if (!data) return undefined;
    const rank = data.dims.length;
    const perm = ctx.node.attrs.ints("perm") ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    const dims = perm.map((p) => data.dims[p]!);
    const values = rearranged(data, dims, (index) => {
      const from = new Array<number>(rank);
      perm.forEach((p, i) => {
        from[p] = index[i]!;
      });
      return from;
    });
    return [{ dtype: data.dtype, dims, values }];
  },
  // torch's repeat_interleave expands its count to one per slice, then splits that table.
  Expand: (ctx) => {
    const data = ctx.value(0);
    const dims = ctx.outputs[0]!.shape;
    if (!data || !isKnownShape(dims) || dims.reduce((a, b) => a * b, 1) > MAX_FOLDED_ELEMENTS)
      return undefined;
    const offset = dims.length - data.dims.length;
    const values = rearranged(data, dims, (index) =>
      data.dims.map((size, axis) => (size === 1 ? 0 : index[offset + axis]!)),
    );
    return [{ dtype: data.dtype, dims, values }];
  },
  Split: (ctx) => {
    const data = ctx.value(0);
    const shapes = ctx.outputs.map((o) => o.shape);
    if (!data || !shapes.every(isKnownShape)) return undefined;
    const axis = normalizeAxis(ctx.node.attrs.int("axis", 0), data.dims.length);
    let start = 0;
    return shapes.map((dims) => {
      const from = start;
      start += dims[axis]!;
      const values = rearranged(data, dims, (index) => index.map((i, a) => (a === axis ? from + i : i)));
      return { dtype: data.dtype, dims, values };
    });
  },
  Add: elementwise(numeric((a, b) => a + b)),
  Sub: elementwise(numeric((a, b) => a - b)),
  Mul: elementwise((a, b, integer) =>
    typeof a === "number" && typeof b === "number"
      ? integer
        ? Math.trunc(a * b)
        : a * b
      : dimProduct([a, b]),
  ),
  Div: elementwise((a, b, integer) => {
    if (typeof a === "number" && typeof b === "number") return integer ? Math.trunc(a / b) : a / b;
    return integer ? dimQuotient(a, b) : undefined;
  }),
  Equal: elementwise(
    comparison(
      (a, b) => a === b,
      (a, b) => (a === b ? true : belowOne(a) || belowOne(b) ? false : undefined),
    ),
  ),
  Less: elementwise(
    comparison(
      (a, b) => a < b,
      (a, b) => below(a, b),
    ),
  ),
  Greater: elementwise(
    comparison(
      (a, b) => a > b,
      (a, b) => below(b, a),
    ),
  ),
  Not: (ctx) => {
    const v = ctx.value(0);
    return v && [{ ...v, values: v.values.map((x) => Number(x === 0)) }];
  },
  Where: (ctx) => {
    const [condition, a, b] = [0, 1, 2].map((i) => ctx.value(i));
    const out = ctx.outputs[0]!;
    if (!condition || !a || !b || out.shape.some((d) => typeof d !== "number")) return undefined;
    const length = Math.max(condition.values.length, a.values.length, b.values.length);
    const at = (v: KnownValue, i: number) => v.values[v.values.length === 1 ? 0 : i]!;
    if ([condition, a, b].some((v) => v.values.length !== 1 && v.values.length !== length)) return undefined;
    const values: Dim[] = [];
    for (let i = 0; i < length; i++) {
      const pick = at(condition, i);
      if (typeof pick !== "number") return undefined;
      values.push(at(pick ? a : b, i));
    }
    return [{ dtype: out.dtype, dims: out.shape as number[], values }];
  },
  ConstantOfShape: (ctx) => {
    const shape = ctx.value(0);
    const fill = ctx.node.attrs.tensor("value");
    if (!shape || shape.values.some((d) => typeof d !== "number")) return undefined;
    const dims = shape.values as number[];
    const count = dims.reduce((a, b) => a * b, 1);
    if (count > MAX_FOLDED_ELEMENTS) return undefined;
    const value = fill ? Number(fill.data[0]) : 0;
    return [{ dtype: fill?.dtype ?? "float32", dims, values: new Array(count).fill(value) }];
  },
  Range: (ctx) => {
    const range = rangeOf(ctx);
    if (!range || range.length > MAX_FOLDED_ELEMENTS) return undefined;
    const { start, delta, length } = range;
    const values = Array.from({ length }, (_, i) => start + i * delta);
    return [{ dtype: ctx.outputs[0]!.dtype, dims: [length], values }];
  },
});
