import { resolveControlFlow } from "../onnx/control-flow.ts";
import { type DType, isFloat, type Tensor, tensorFromNumbers } from "../onnx/dtypes.ts";
import { OnnxError } from "../onnx/errors.ts";
import { foldRules } from "../onnx/fold-rules.ts";
import { type Dim, type GraphNode, graphNode, type LoadedModel, type TensorInfo } from "../onnx/model.ts";
import { type InferredGraph, inferShapes, isFullyKnown } from "../onnx/shape-inference.ts";
import { GraphBuilder } from "./graph-builder.ts";
import { inferenceRewrites, type RewriteContext, trainingRewrites } from "./training-mode.ts";

/** Graph input of the step graphs carrying the dropout seed, when the model has Dropout. */
export const DROPOUT_SEED_INPUT = "dropout_seed";

/** The forward pass as it runs inside a step graph, with every tensor's shape known. */
export interface ForwardGraph {
  g: GraphBuilder;
  inputs: TensorInfo[];
  /** Initializers that stay initializers: integer tensors and shape constants folded while building. */
  fixed: Map<string, Tensor>;
  nodes: GraphNode[];
  inferred: InferredGraph;
  /** Running statistics: state input name -> updated value (training mode only). */
  stateUpdates: Map<string, string>;
  usesDropoutSeed: boolean;
}

export interface ForwardOptions {
  batchSize: number | "dynamic";
  inputShapes?: Record<string, number[]>;
  training: boolean;
  /** Intra-op threads the graph will run with (speed only: see GraphBuilder). */
  threads?: number;
}

/** Graph opset of the step graphs: at least 16 for ScatterND/ScatterElements with reduction="add". */
export function stepOpset(model: LoadedModel): number {
  return Math.max(model.opset, 16);
}

export function inputShapes(model: LoadedModel, options: ForwardOptions): Map<string, Dim[]> {
  const shapes = new Map<string, Dim[]>();
  for (const input of model.inputs) {
    const given = options.inputShapes?.[input.name];
    if (given) shapes.set(input.name, given);
    else if (typeof options.batchSize === "number" && typeof input.shape[0] === "string") {
      shapes.set(input.name, [options.batchSize, ...input.shape.slice(1)]);
    } else shapes.set(input.name, input.shape);
  }
  return shapes;
}

/**
 * Copies the model's nodes into a builder: shape arithmetic that folds to constants becomes
 * initializers, and in training mode BatchNormalization/Dropout/... take their training form.
 */
export function buildForward(exported: LoadedModel, options: ForwardOptions): ForwardGraph {
  const shapes = inputShapes(exported, options);
  const model = resolveControlFlow(exported, shapes);
  const original = inferShapes(model, shapes);
  const g = new GraphBuilder(stepOpset(model), options.threads);
  const fixed = new Map<string, Tensor>();
  for (const [name, tensor] of model.initializers) if (!isFloat(tensor.dtype)) fixed.set(name, tensor);
  const stateUpdates = new Map<string, string>();
  let usesDropoutSeed = false;
  for (const node of model.nodes) {
    const folded = node.outputs.map((o) => original.values.get(o));
    const foldable = node.opType !== "Constant" && foldRules[node.opType] !== undefined;
    if (foldable && folded.every((v) => v && isFullyKnown(v) && !isFloat(v.dtype))) {
      node.outputs.forEach((o, i) => {
        const v = folded[i]!;
        fixed.set(o, tensorFromNumbers(v.dtype as DType, v.dims, v.values as number[]));
      });
      continue;
    }
    const rewrite = (options.training ? trainingRewrites : inferenceRewrites)[node.opType];
    if (!rewrite) {
      g.addProto(node.proto.name ? node.proto : { ...node.proto, name: node.name });
      continue;
    }
    const context: RewriteContext = {
      g,
      node,
      info: (name) => {
        const info = original.infos.get(name);
        if (!info) throw new OnnxError("UNKNOWN_TENSOR", `no shape known for ${name}`, node.name);
        return info;
      },
      value: (name) => original.values.get(name),
      dropoutSeed: () => {
        usesDropoutSeed = true;
        return DROPOUT_SEED_INPUT;
      },
      updateState: (name, updated) => stateUpdates.set(name, updated),
    };
    rewrite(context);
  }
  const inputs: TensorInfo[] = model.inputs.map((i) => ({ ...i, shape: shapes.get(i.name)! }));
  if (usesDropoutSeed) inputs.push({ name: DROPOUT_SEED_INPUT, dtype: "int64", shape: [] });
  const nodes = g.nodes.map((proto, index) => graphNode(proto, index));
  const initializers = new Map([...model.initializers, ...fixed, ...g.constants]);
  const inferred = inferShapes({ ...model, opset: g.opset, inputs, initializers, nodes }, new Map());
  return { g, inputs, fixed, nodes, inferred, stateUpdates, usesDropoutSeed };
}
