import { OnnxError } from "../onnx/errors.ts";
import type { Dim, GraphNode } from "../onnx/model.ts";
import type { KnownValue, ValueInfo } from "../onnx/shape-rules.ts";
import type { GraphBuilder } from "./graph-builder.ts";
import { sumLeadingAxes } from "./leading-sum.ts";

/**
 * What a gradient rule sees of one forward node, with the accessors and helpers that keep a rule
 * close to its formula. Every member is a plain value or a bound function, so rules may destructure.
 */
export interface GradientContext {
  g: GraphBuilder;
  node: GraphNode;
  opset: number;
  /** Forward input and output names; "" or missing where an optional one is absent. */
  inputs: readonly string[];
  outputs: readonly string[];
  /** Input i's name; an INVALID_MODEL error when the node lacks it. */
  x(i: number): string;
  /** Output i's name; an INVALID_MODEL error when the node lacks it. */
  y(i: number): string;
  xInfo(i: number): ValueInfo;
  yInfo(i: number): ValueInfo;
  /** Gradient of each output; undefined where none flows back. */
  dy: ReadonlyArray<string | undefined>;
  /** The first output's gradient; an UNSUPPORTED_OPERATOR error when only other outputs have one. */
  readonly dy0: string;
  /** Whether input i needs a gradient (it depends on a trainable parameter). */
  wants: readonly boolean[];
  /** Input i's value when known while building (constants, folded shapes). */
  value(i: number): KnownValue | undefined;
  /** The float type the rule computes in: the first output's. */
  readonly dtype: "float32" | "float64";
  /** A scalar constant of `dtype`. */
  scalar(value: number): string;
  /** dy0 * derivative: the chain rule for an elementwise operator. */
  times(derivative: string): string;
  /** `make()` when input i wants a gradient. */
  ifWants(i: number, make: () => string): string | undefined;
  /** Like ifWants, summed back to input i's shape where a broadcast widened it. */
  toInput(i: number, make: () => string): string | undefined;
}

/** Returns one gradient name per input (undefined: none). */
export type GradientRule = (c: GradientContext) => Array<string | undefined>;

export function gradientContext(
  g: GraphBuilder,
  node: GraphNode,
  info: (name: string) => ValueInfo,
  dy: ReadonlyArray<string | undefined>,
  wants: readonly boolean[],
  known: (name: string) => KnownValue | undefined,
): GradientContext {
  const named = (names: readonly string[], kind: string, i: number): string => {
    const name = names[i];
    if (!name) throw new OnnxError("INVALID_MODEL", `${kind} ${i} is required`, node.name);
    return name;
  };
  const x = (i: number) => named(node.inputs, "input", i);
  const y = (i: number) => named(node.outputs, "output", i);
  const xInfo = (i: number) => info(x(i));
  const yInfo = (i: number) => info(y(i));
  const dtype = () => (yInfo(0).dtype === "float64" ? "float64" : "float32");
  const dy0 = () => {
    const grad = dy[0];
    if (grad === undefined) {
      throw new OnnxError(
        "UNSUPPORTED_OPERATOR",
        `the gradient of ${node.opType} needs a gradient of its first output`,
        node.name,
      );
    }
    return grad;
  };
  const ifWants = (i: number, make: () => string) => (wants[i] ? make() : undefined);
  return {
    g,
    node,
    opset: g.opset,
    inputs: node.inputs,
    outputs: node.outputs,
    x,
    y,
    xInfo,
    yInfo,
    dy,
    get dy0() {
      return dy0();
    },
    wants,
    value: (i) => (node.inputs[i] ? known(x(i)) : undefined),
    get dtype() {
      return dtype();
    },
    scalar: (value) => g.scalar(value, dtype()),
    times: (derivative) => g.mul(dy0(), derivative),
    ifWants,
    toInput: (i, make) => ifWants(i, () => unbroadcast(g, make(), yInfo(0).shape, xInfo(i).shape, dtype())),
  };
}

/**
 * Reduces a gradient of a broadcast result back to the shape of the input that was broadcast:
 * summed over the leading axes the input lacked and over the axes where it had size 1.
 */
export function unbroadcast(
  g: GraphBuilder,
  grad: string,
  from: readonly Dim[],
  to: readonly Dim[],
  dtype: "float32" | "float64",
): string {
  const lead = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (i < lead || (to[i - lead] === 1 && from[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return grad;
  // Only leading axes (a bias over a batch): one sum without kept dims, no Squeeze.
  if (axes.length === lead) return sumLeadingAxes(g, grad, from, lead, dtype);
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
  const size = (name: string) => g.cast(g.op("Size", [name]), dtype);
  return g.div(size(fromName), size(toName));
}
