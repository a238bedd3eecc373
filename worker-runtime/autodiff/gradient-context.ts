import { onnxDataType } from "../onnx/dtypes.ts";
import type { Dim, GraphNode } from "../onnx/model.ts";
import type { KnownValue, ValueInfo } from "../onnx/shape-rules.ts";
import type { GraphBuilder } from "./graph-builder.ts";

/** What a gradient rule sees of one forward node. */
export interface GradientContext {
  g: GraphBuilder;
  node: GraphNode;
  opset: number;
  /** Forward input and output names. */
  x: readonly string[];
  y: readonly string[];
  xInfo(i: number): ValueInfo;
  yInfo(i: number): ValueInfo;
  /** Gradient of each output; undefined where none flows back. */
  dy: ReadonlyArray<string | undefined>;
  /** Whether input i needs a gradient (it depends on a trainable parameter). */
  wants: readonly boolean[];
  /** Input i's value when known while building (constants, folded shapes). */
  value(i: number): KnownValue | undefined;
}

/** Returns one gradient name per input (undefined: none). */
export type GradientRule = (c: GradientContext) => Array<string | undefined>;

/**
 * Reduces a gradient of a broadcast result back to the shape of the input that was broadcast:
 * summed over the leading axes the input lacked and over the axes where it had size 1.
 */
export function unbroadcast(g: GraphBuilder, grad: string, from: readonly Dim[], to: readonly Dim[]): string {
  const lead = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (i < lead || (to[i - lead] === 1 && from[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return grad;
  // Only leading axes (a bias over a batch): one ReduceSum without kept dims, no Squeeze.
  if (axes.length === lead) return g.reduceSum(grad, axes, false);
  const summed = g.reduceSum(grad, axes, true);
  return lead === 0 ? summed : g.op("Squeeze", [summed, g.ints(axes.slice(0, lead))]);
}

/** The number of elements reduced away between `from` and `to`, as a scalar of `dtype`. */
export function reducedCount(
  g: GraphBuilder,
  fromName: string,
  from: readonly Dim[],
  toName: string,
  to: readonly Dim[],
  dtype: ValueInfo["dtype"],
): string {
  if (from.every((d) => typeof d === "number") && to.every((d) => typeof d === "number")) {
    const product = (s: readonly Dim[]) => (s as number[]).reduce((a, b) => a * b, 1);
    return g.scalar(product(from) / product(to), dtype);
  }
  const size = (name: string) => g.op("Cast", [g.op("Size", [name])], { to: onnxDataType[dtype] });
  return g.op("Div", [size(fromName), size(toName)]);
}
