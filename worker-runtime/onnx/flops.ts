import { resolveControlFlow } from "./control-flow.ts";
import { OnnxError } from "./errors.ts";
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
/** Views and build-time values: no arithmetic, no copy at run time. */
const free: FlopRule = () => 0;
/** Data movement: one unit per element written, so a copy is never priced as free. */
const copy = perOutput(1);
const allOutputs: FlopRule = (c) => c.node.outputs.reduce((sum, _, i) => sum + count(c.output(i)), 0);

/**
 * LSTM, GRU, RNN (time-major, the layout the engine trains): every step multiplies the input and
 * the hidden state by each direction's gate weights, then a few elementwise ops per gate value.
 */
const recurrent: FlopRule = (c) => {
  const [steps = 1, batch = 1] = c.input(0);
  const [directions = 1, gateRows = 1, inputSize = 1] = c.input(1);
  const hiddenSize = c.input(2)[2] ?? 1;
  return steps * batch * directions * gateRows * (2 * (inputSize + hiddenSize) + 8);
};

// Every operator the engine supports has a rule here (flops.test.ts checks): a node without one
// refuses the quote instead of being priced at 0.
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
  GlobalMaxPool: perInput(1),
  Add: perOutput(1),
  Sub: perOutput(1),
  Mul: perOutput(1),
  Div: perOutput(1),
  Mod: perOutput(2),
  Neg: perOutput(1),
  Abs: perOutput(1),
  Sign: perOutput(1),
  Floor: perOutput(1),
  Ceil: perOutput(1),
  Round: perOutput(1),
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
  Sin: perOutput(8),
  Cos: perOutput(8),
  Selu: perOutput(8),
  Celu: perOutput(8),
  Mish: perOutput(16),
  Softsign: perOutput(3),
  CumSum: perOutput(1),
  // A multiply and an add per tap: 2 taps an axis for linear, 4 for cubic (over two axes).
  Resize: (c) => (c.node.attrs.string("mode", "nearest") === "cubic" ? 32 : 8) * count(c.output(0)),
  GroupNormalization: perOutput(8),
  // Four weighted taps and the weights of the point.
  GridSample: perOutput(12),
  LSTM: recurrent,
  GRU: recurrent,
  RNN: recurrent,
  Softmax: perOutput(12),
  LogSoftmax: perOutput(12),
  Equal: perOutput(1),
  Less: perOutput(1),
  Greater: perOutput(1),
  LessOrEqual: perOutput(1),
  GreaterOrEqual: perOutput(1),
  And: perOutput(1),
  Or: perOutput(1),
  Not: perOutput(1),
  ReduceSum: perInput(1),
  ReduceMean: perInput(1),
  ReduceMax: perInput(1),
  ReduceMin: perInput(1),
  ReduceProd: perInput(1),
  ArgMax: perInput(1),
  ArgMin: perInput(1),
  Hardmax: perInput(1),
  ReduceL1: perInput(2),
  ReduceL2: perInput(2),
  ReduceSumSquare: perInput(2),
  ReduceLogSumExp: perInput(10),
  LayerNormalization: perOutput(8),
  BatchNormalization: perOutput(8),
  InstanceNormalization: perOutput(8),
  Dropout: perOutput(8),
  RandomNormalLike: perOutput(40),
  RandomUniformLike: perOutput(20),
  RandomNormal: perOutput(40),
  RandomUniform: perOutput(20),
  Cast: copy,
  Transpose: copy,
  Concat: copy,
  Slice: copy,
  Pad: copy,
  Gather: copy,
  GatherElements: copy,
  // A selection: a few comparisons per input element for the small k models take.
  TopK: perInput(4),
  OneHot: copy,
  GatherND: copy,
  ScatterElements: copy,
  ScatterND: copy,
  DepthToSpace: copy,
  SpaceToDepth: copy,
  Expand: copy,
  Tile: copy,
  Trilu: copy,
  Range: copy,
  ConstantOfShape: copy,
  Split: allOutputs,
  Identity: free,
  Reshape: free,
  Flatten: free,
  Squeeze: free,
  Unsqueeze: free,
  Shape: free,
  Size: free,
  Constant: free,
});

export function hasFlopRule(opType: string): boolean {
  return Object.hasOwn(flopRules, opType);
}

/** Dims that stay symbolic once the inputs are sized come from values known only at run time. */
function sized(node: GraphNode, role: string, info: ValueInfo | undefined): number[] {
  const shape = info?.shape ?? [];
  const unknown = shape.find((d) => typeof d !== "number");
  if (unknown !== undefined) {
    throw new OnnxError(
      "UNPRICEABLE",
      `${node.opType} ${role} has shape [${shape.join(", ")}]: dimension ${unknown} is known only when the graph runs, so the node's cost cannot be priced`,
      node.name,
    );
  }
  return shape as number[];
}

/**
 * FLOPs of one training step (forward, backward, optimizer) with the graph inputs of these
 * shapes: every input sized, batch included, as the dataset and batch size feed them.
 */
export function estimateTrainingFlops(
  exported: LoadedModel,
  inputShapes: ReadonlyMap<string, readonly number[]>,
): number {
  for (const input of exported.inputs) {
    if (!inputShapes.has(input.name)) {
      throw new OnnxError("UNPRICEABLE", "the graph input has no size to price with", input.name);
    }
  }
  const shapes = new Map([...inputShapes].map(([name, shape]): [string, Dim[]] => [name, [...shape]]));
  const model = resolveControlFlow(exported, shapes);
  const { infos } = inferShapes(model, shapes);
  let forward = 0;
  for (const node of model.nodes) {
    const rule = flopRules[node.opType];
    if (!rule) {
      throw new OnnxError(
        "UNPRICEABLE",
        `operator ${node.opType} has no FLOP rule, so it cannot be priced`,
        node.name,
      );
    }
    forward += rule({
      node,
      input: (i) => sized(node, `input ${i}`, infos.get(node.inputs[i] ?? "")),
      output: (i) => sized(node, `output ${i}`, infos.get(node.outputs[i] ?? "")),
    });
  }
  let parameters = 0;
  for (const tensor of model.initializers.values()) {
    if (tensor.dtype === "float32" || tensor.dtype === "float64") parameters += tensor.data.length;
  }
  const flops = forward * (1 + BACKWARD_FACTOR) + parameters * OPTIMIZER_FLOPS_PER_PARAMETER;
  if (!Number.isFinite(flops)) {
    throw new OnnxError("UNPRICEABLE", `one training step comes to ${flops} FLOPs, past any price`);
  }
  return flops;
}
