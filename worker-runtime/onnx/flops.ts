import type { Dim, GraphNode, LoadedModel } from "./model.ts";
import { ruleTable } from "./rule-table.ts";
import { inferShapes } from "./shape-inference.ts";
import type { ValueInfo } from "./shape-rules.ts";
import { einsumTerms } from "./shape-rules.ts";

// Pricing, not profiling: a forward FLOP count per operator, and the usual training multiplier
// (backward about twice the forward) plus a few FLOPs per parameter for the optimizer.

interface FlopContext {
  node: GraphNode;
  input(i: number): number[];
  output(i: number): number[];
}

type FlopRule = (c: FlopContext) => number;

const BACKWARD_FACTOR = 2;
const OPTIMIZER_FLOPS_PER_PARAMETER = 12;

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const perOutput =
  (cost: number): FlopRule =>
  (c) =>
    cost * count(c.output(0));
const perInput =
  (cost: number): FlopRule =>
  (c) =>
    cost * count(c.input(0));

const flopRules = ruleTable<FlopRule>({
  Gemm: (c) => {
    const a = c.input(0);
    const k = c.node.attrs.int("transA", 0) ? a[0]! : a[1]!;
    return 2 * count(c.output(0)) * k;
  },
  MatMul: (c) => {
    const a = c.input(0);
    return 2 * count(c.output(0)) * a[a.length - 1]!;
  },
  // Einsum: one multiply-add per point of the joint index space.
  Einsum: (c) => {
    const sizes = new Map<string, number>();
    einsumTerms(c.node).inputs.forEach((term, i) => {
      const shape = c.input(i);
      for (let axis = 0; axis < term.length; axis++) {
        const letter = term[axis]!;
        sizes.set(letter, Math.max(sizes.get(letter) ?? 1, shape[axis] ?? 1));
      }
    });
    return 2 * [...sizes.values()].reduce((a, b) => a * b, 1);
  },
  Conv: (c) => {
    const w = c.input(1);
    return 2 * count(c.output(0)) * count(w.slice(1));
  },
  // Each input element meets every kernel weight of its group once.
  ConvTranspose: (c) => 2 * count(c.input(0)) * count(c.input(1).slice(1)),
  MaxPool: (c) => count(c.output(0)) * count(c.node.attrs.ints("kernel_shape") ?? [1]),
  AveragePool: (c) => count(c.output(0)) * count(c.node.attrs.ints("kernel_shape") ?? [1]),
  GlobalAveragePool: perInput(1),
  Add: perOutput(1),
  Sub: perOutput(1),
  Mul: perOutput(1),
  Div: perOutput(1),
  Neg: perOutput(1),
  Relu: perOutput(1),
  LeakyRelu: perOutput(2),
  Where: perOutput(1),
  Max: perOutput(1),
  Min: perOutput(1),
  Sum: perOutput(1),
  Clip: perOutput(2),
  PRelu: perOutput(2),
  HardSigmoid: perOutput(3),
  HardSwish: perOutput(4),
  Softplus: perOutput(8),
  Elu: perOutput(8),
  Sqrt: perOutput(4),
  Reciprocal: perOutput(4),
  Pow: perOutput(8),
  Exp: perOutput(8),
  Log: perOutput(8),
  Sigmoid: perOutput(8),
  Tanh: perOutput(8),
  Erf: perOutput(8),
  Gelu: perOutput(12),
  Softmax: perOutput(12),
  LogSoftmax: perOutput(12),
  ReduceSum: perInput(1),
  ReduceMean: perInput(1),
  LayerNormalization: perOutput(8),
  BatchNormalization: perOutput(8),
  InstanceNormalization: perOutput(8),
  Dropout: perOutput(8),
});

/**
 * FLOPs of one training step (forward, backward, optimizer) at this batch size. Symbolic
 * dimensions other than the batch count as 1; shape arithmetic counts as 0.
 */
export function estimateTrainingFlops(model: LoadedModel, batchSize: number): number {
  const shapes = new Map(
    model.inputs.map((i) => [
      i.name,
      i.shape.map((d, k): Dim => (typeof d === "number" ? d : k === 0 ? batchSize : 1)),
    ]),
  );
  const { infos } = inferShapes(model, shapes);
  const numeric = (info: ValueInfo | undefined): number[] =>
    (info?.shape ?? []).map((d) => (typeof d === "number" ? d : 1));
  let forward = 0;
  for (const node of model.nodes) {
    const rule = flopRules[node.opType];
    if (!rule) continue;
    forward += rule({
      node,
      input: (i) => numeric(infos.get(node.inputs[i] ?? "")),
      output: (i) => numeric(infos.get(node.outputs[i] ?? "")),
    });
  }
  let parameters = 0;
  for (const tensor of model.initializers.values()) {
    if (tensor.dtype === "float32" || tensor.dtype === "float64") parameters += tensor.data.length;
  }
  return forward * (1 + BACKWARD_FACTOR) + parameters * OPTIMIZER_FLOPS_PER_PARAMETER;
}
