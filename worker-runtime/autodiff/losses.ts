import { type DType, onnxDataType, tensorFromNumbers } from "../onnx/dtypes.ts";
import type { Dim } from "../onnx/model.ts";
import type { ValueInfo } from "../onnx/shape-rules.ts";
import { AutodiffError } from "./errors.ts";
import type { GraphBuilder } from "./graph-builder.ts";

export type LossOptions =
  | { type: "cross_entropy"; labelSmoothing?: number }
  | { type: "mse" }
  | { type: "bce_with_logits" };

export interface LossNodes {
  /** Scalar mean loss. */
  loss: string;
  /** d loss / d model output, emitted only when asked (the evaluation graph does not). */
  gradient: string | undefined;
  /**
   * For classification losses: how many predictions match the target (float scalar), so accuracy
   * needs no model output fetched from the graph (argmax over classes; logit > 0 for BCE).
   */
  correct?: string;
}

export interface LossContext {
  g: GraphBuilder;
  output: string;
  outputInfo: ValueInfo;
  target: string;
  withGradient: boolean;
}

export interface LossDefinition {
  /** dtype and shape the target tensor must have for this model output. */
  target(output: ValueInfo): ValueInfo;
  emit(c: LossContext, options: LossOptions): LossNodes;
}

/** Number of elements averaged over, as a scalar: a constant when the shape is static. */
function elementCount(g: GraphBuilder, name: string, shape: readonly Dim[], dtype: DType): string {
  if (shape.every((d) => typeof d === "number")) {
    return g.scalar(
      (shape as number[]).reduce((a, b) => a * b, 1),
      dtype,
    );
  }
  return g.op("Cast", [g.op("Size", [name])], { to: onnxDataType[dtype] });
}

function allAxes(shape: readonly Dim[]): number[] {
  return shape.map((_, i) => i);
}

/** torch.nn.functional.cross_entropy over logits [N, C, ...] with int64 class targets [N, ...], mean. */
const crossEntropy: LossDefinition = {
  target: (output) => ({ dtype: "int64", shape: output.shape.filter((_, i) => i !== 1) }),
  emit: ({ g, output, outputInfo, target, withGradient }, options) => {
    const smoothing = options.type === "cross_entropy" ? (options.labelSmoothing ?? 0) : 0;
    if (!(smoothing >= 0 && smoothing <= 1)) {
      throw new AutodiffError("INVALID_OPTIONS", `labelSmoothing must be in [0, 1], got ${smoothing}`);
    }
    const shape = outputInfo.shape;
    if (shape.length < 2 || typeof shape[1] !== "number") {
      throw new AutodiffError(
        "INVALID_OPTIONS",
        `cross_entropy needs logits [N, C, ...] with a static C, got [${shape}]`,
      );
    }
    const classes = shape[1];
    const dtype = outputInfo.dtype;
    const logProbabilities = g.op("LogSoftmax", [output], { axis: 1 });
    // The smoothed target distribution q = (1 - e) one-hot + e / C, in one OneHot node (float32
    // only in onnxruntime); loss = -sum(q log p) / count.
    const offValue = smoothing / classes;
    const levels = g.constant(tensorFromNumbers("float32", [2], [offValue, 1 - smoothing + offValue]));
    const oneHot = g.op("OneHot", [target, g.ints([classes]), levels], { axis: 1 });
    const q = dtype === "float32" ? oneHot : g.op("Cast", [oneHot], { to: onnxDataType[dtype] });
    const count = elementCount(
      g,
      target,
      shape.filter((_, i) => i !== 1),
      dtype,
    );
    const total = g.reduceSum(g.op("Mul", [q, logProbabilities]), allAxes(shape), false);
    const loss = g.op("Neg", [g.op("Div", [total, count])]);
    const gradient = withGradient
      ? g.op("Div", [g.op("Sub", [g.op("Exp", [logProbabilities]), q]), count])
      : undefined;
    const predicted = g.op("ArgMax", [output], { axis: 1, keepdims: 0 });
    const correct = g.reduceSum(
      g.op("Cast", [g.op("Equal", [predicted, target])], { to: onnxDataType.float32 }),
      allAxes(shape.filter((_, i) => i !== 1)),
      false,
    );
    return { loss, gradient, correct };
  },
};

const meanSquaredError: LossDefinition = {
  target: (output) => output,
  emit: ({ g, output, outputInfo, target, withGradient }) => {
    const difference = g.op("Sub", [output, target]);
    const count = elementCount(g, output, outputInfo.shape, outputInfo.dtype);
    const loss = g.op("Div", [
      g.reduceSum(g.op("Mul", [difference, difference]), allAxes(outputInfo.shape), false),
      count,
    ]);
    const gradient = withGradient
      ? g.op("Mul", [difference, g.op("Div", [g.scalar(2, outputInfo.dtype), count])])
      : undefined;
    return { loss, gradient };
  },
};

/** mean(max(x, 0) - x t + log(1 + exp(-|x|))): never overflows, as in PyTorch. */
const bceWithLogits: LossDefinition = {
  target: (output) => output,
  emit: ({ g, output, outputInfo, target, withGradient }) => {
    const dtype = outputInfo.dtype;
    const positive = g.op("Max", [output, g.scalar(0, dtype)]);
    const softplusTail = g.op("Log", [
      g.op("Add", [g.scalar(1, dtype), g.op("Exp", [g.op("Neg", [g.op("Abs", [output])])])]),
    ]);
    const elementwise = g.op("Add", [g.op("Sub", [positive, g.op("Mul", [output, target])]), softplusTail]);
    const count = elementCount(g, output, outputInfo.shape, dtype);
    const loss = g.op("Div", [g.reduceSum(elementwise, allAxes(outputInfo.shape), false), count]);
    const gradient = withGradient
      ? g.op("Div", [g.op("Sub", [g.op("Sigmoid", [output]), target]), count])
      : undefined;
    // Targets may be soft: a target above one half counts as the positive class.
    const predicted = g.op("Greater", [output, g.scalar(0, dtype)]);
    const actual = g.op("Greater", [target, g.scalar(0.5, dtype)]);
    const matches = g.op("Cast", [g.op("Equal", [predicted, actual])], { to: onnxDataType.float32 });
    const correct = g.reduceSum(matches, allAxes(outputInfo.shape), false);
    return { loss, gradient, correct };
  },
};

export const losses: Record<LossOptions["type"], LossDefinition> = {
  cross_entropy: crossEntropy,
  mse: meanSquaredError,
  bce_with_logits: bceWithLogits,
};
