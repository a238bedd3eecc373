import { elementCount, type Tensor, tensorFromNumbers } from "../onnx/dtypes.ts";
import type { LoadedModel } from "../onnx/model.ts";
import type { ValueInfo } from "../onnx/shape-rules.ts";
import { emitBackward } from "./backward.ts";
import { AutodiffError } from "./errors.ts";
import { buildForward, DROPOUT_SEED_INPUT, type ForwardGraph } from "./forward.ts";
import type { GraphBuilder } from "./graph-builder.ts";
import { type LossOptions, losses } from "./losses.ts";
import { emitUpdate, type OptimizerOptions, StepScalars } from "./optimizers.ts";
import {
  emitPackedGradient,
  emitUnpack,
  type ParameterPacking,
  packTensors,
  planPacking,
} from "./packing.ts";
import { splitParameters } from "./parameters.ts";
import { serializeStepGraph, valueInfo } from "./step-graph.ts";

export interface TrainingStepOptions {
  /** The model output the loss is computed on (usually the logits). */
  modelOutput: string;
  /** Fixes a symbolic leading dimension of every input, or keeps it symbolic. */
  batchSize: number | "dynamic";
  /** Overrides the declared shapes of model inputs (e.g. a symbolic sequence length). */
  inputShapes?: Record<string, number[]>;
  loss: LossOptions;
  optimizer: OptimizerOptions;
  /** torch.nn.utils.clip_grad_norm_ with this max_norm (L2) before the update. */
  clipGradNorm?: number;
  frozen?: string[];
  /**
   * Feed all parameters as one float32 vector (see ParameterPacking): fewer tensors in and out of
   * each run and one fused optimizer update. Same arithmetic as unpacked, element for element.
   */
  packParameters?: boolean;
  /** Intra-op threads the graph will run with: speed only, the bits are the same (see GraphBuilder). */
  threads?: number;
}

export interface StateTensor {
  name: string;
  init: Tensor;
}

export interface TrainingStepGraph {
  /** Serialized ONNX ModelProto, run as is by onnxruntime-node. */
  bytes: Uint8Array;
  /**
   * Trained tensors, graph input name = name: the trainable initializers in model file order, or
   * the one packed vector when `packing` is set.
   */
  params: string[];
  /** Initial value of each entry of `params` (the model's weights, packed when `packing` is set). */
  initialParams: Map<string, Tensor>;
  /** Present with packParameters: where each model parameter sits in the packed vector. */
  packing?: ParameterPacking;
  /**
   * Parameters fed and updated as one row [1, n] (isRowParameter), with the model's dims of each:
   * the same elements in the same order, so a checkpoint's tensor is a reshape of the row.
   */
  rows?: Map<string, number[]>;
  /** Optimizer state and BatchNormalization running statistics with their initial values; input name = name. */
  state: StateTensor[];
  inputs: {
    /** The model's own inputs. */
    batch: string[];
    target: string;
    /** float32 scalar. */
    learningRate: string;
    /** int64 scalar: the 1-based number of this step (bias correction, first momentum step). */
    step: string;
    /** int64 scalar in [0, 2^31), present when the model has Dropout. */
    dropoutSeed?: string;
  };
  outputs: {
    loss: string;
    /** Classification losses: the number of correct predictions in the batch (float32 scalar). */
    correct?: string;
    params: Map<string, string>;
    state: Map<string, string>;
    modelOutput: string;
  };
}

export const TARGET_INPUT = "target";
export const LEARNING_RATE_INPUT = "learning_rate";
export const STEP_INPUT = "step";

export function checkModelOutput(model: LoadedModel, modelOutput: string): void {
  const produced =
    model.outputs.some((o) => o.name === modelOutput) ||
    model.nodes.some((n) => n.outputs.includes(modelOutput));
  if (!produced) {
    throw new AutodiffError(
      "UNKNOWN_OUTPUT",
      `modelOutput ${modelOutput} is not produced by the model (outputs: ${model.outputs.map((o) => o.name).join(", ")})`,
    );
  }
}

/**
 * One training step as one ONNX graph: forward in training mode, loss, backward, optional
 * gradient clipping and the optimizer update. Frozen parameters and integer initializers stay
 * initializers; running statistics are state even when their layer is frozen.
 */
export function buildTrainingStep(model: LoadedModel, options: TrainingStepOptions): TrainingStepGraph {
  const { forward, params, runningStats, loss, correct, grads, outputInfo, targetInfo } = differentiate(
    model,
    options,
  );
  const { g } = forward;
  // What the optimizer updates: each parameter, or the one packed vector of all of them.
  const packing = options.packParameters ? planPacking(params, model.initializers) : undefined;
  let trained: Array<{ name: string; init: Tensor; grad: string | undefined }>;
  if (packing) {
    emitUnpack(g, packing);
    const init = packTensors(packing, model.initializers);
    trained = [{ name: packing.name, init, grad: emitPackedGradient(g, packing, grads) }];
  } else {
    trained = params.map((name) => ({ name, init: model.initializers.get(name)!, grad: grads.get(name) }));
  }
  // Large float32 parameters are fed as one row (optimizers.ts, applyStep): what the model reads
  // is a Reshape of it, under a name of its own.
  const rows = new Map(
    trained
      .filter((t) => !packing && t.grad !== undefined && isRowParameter(t.init))
      .map((t) => [t.name, viewAsMatrix(g, t.name, t.init.dims)]),
  );
  const present = trained.filter((t) => t.grad !== undefined) as Array<{
    name: string;
    init: Tensor;
    grad: string;
  }>;
  const clipped =
    options.clipGradNorm === undefined
      ? new Map(present.map((t) => [t.name, t.grad]))
      : clipByGlobalNorm(g, new Map(present.map((t) => [t.name, t.grad])), options.clipGradNorm);

  const scalars = new StepScalars(g, LEARNING_RATE_INPUT, STEP_INPUT);
  const state: StateTensor[] = runningStats.map((name) => ({ name, init: model.initializers.get(name)! }));
  const newParams = new Map<string, string>();
  const newState = new Map<string, string>();
  for (const name of runningStats) newState.set(name, forward.stateUpdates.get(name) ?? name);
  for (const { name: param, init } of trained) {
    const grad = clipped.get(param);
    g.scoped(`optimizer/${param}`, () => {
      if (!grad) {
        // No gradient reaches it (e.g. only its shape is used): torch leaves such a parameter alone.
        newParams.set(param, param);
        return;
      }
      const updated = emitUpdate(
        {
          g,
          param: rows.get(param) ?? param,
          ...(rows.has(param) ? { row: param } : {}),
          dtype: init.dtype,
          grad,
          scalars,
          state: (label) => {
            const name = `${param}.${label}`;
            state.push({
              name,
              init: tensorFromNumbers(init.dtype, init.dims, new Array(init.data.length).fill(0)),
            });
            return name;
          },
          setState: (label, value) => newState.set(`${param}.${label}`, value),
        },
        options.optimizer,
      );
      newParams.set(param, updated);
    });
  }
  const outputs = {
    loss: renameOutput(g, loss, "loss"),
    ...(correct ? { correct: renameOutput(g, correct, "correct") } : {}),
    modelOutput: options.modelOutput,
    params: new Map([...newParams].map(([p, v]) => [p, v === p ? p : renameOutput(g, v, `${p}/updated`)])),
    state: new Map([...newState].map(([s, v]) => [s, v === s ? s : renameOutput(g, v, `${s}/updated`)])),
  };
  const fedDims = (t: { name: string; init: Tensor }) =>
    rows.has(t.name) ? [1, elementCount(t.init.dims)] : t.init.dims;
  const bytes = serializeStepGraph(
    model,
    g,
    "veritrain_training_step",
    [
      ...forward.inputs.map(valueInfo),
      valueInfo({ name: TARGET_INPUT, ...targetInfo }),
      valueInfo({ name: LEARNING_RATE_INPUT, dtype: "float32", shape: [] }),
      valueInfo({ name: STEP_INPUT, dtype: "int64", shape: [] }),
      ...trained.map((t) => valueInfo({ name: t.name, dtype: t.init.dtype, shape: fedDims(t) })),
      ...state.map((s) => valueInfo({ name: s.name, dtype: s.init.dtype, shape: s.init.dims })),
    ],
    [
      valueInfo({ name: outputs.loss, dtype: outputInfo.dtype, shape: [] }),
      ...(outputs.correct ? [valueInfo({ name: outputs.correct, dtype: "float32", shape: [] })] : []),
      valueInfo({ name: outputs.modelOutput, ...outputInfo }),
      ...trained.map((t) => valueInfo({ name: outputs.params.get(t.name)!, dtype: t.init.dtype })),
      ...state.map((s) => valueInfo({ name: outputs.state.get(s.name)!, dtype: s.init.dtype })),
    ],
    fixedInitializers(
      model,
      forward,
      new Set([...params, ...trained.map((t) => t.name), ...state.map((s) => s.name)]),
    ),
  );
  return {
    bytes,
    params: trained.map((t) => t.name),
    initialParams: new Map(trained.map((t) => [t.name, { ...t.init, dims: fedDims(t) }])),
    ...(packing ? { packing } : {}),
    ...(rows.size > 0
      ? { rows: new Map([...rows.keys()].map((name) => [name, model.initializers.get(name)!.dims])) }
      : {}),
    state,
    inputs: {
      batch: model.inputs.map((i) => i.name),
      target: TARGET_INPUT,
      learningRate: LEARNING_RATE_INPUT,
      step: STEP_INPUT,
      ...(forward.usesDropoutSeed ? { dropoutSeed: DROPOUT_SEED_INPUT } : {}),
    },
    outputs,
  };
}

export interface Differentiated {
  forward: ForwardGraph;
  params: string[];
  runningStats: string[];
  loss: string;
  correct: string | undefined;
  /** Gradient of the loss for each parameter a gradient reaches. */
  grads: Map<string, string>;
  outputInfo: ValueInfo;
  targetInfo: ValueInfo;
}

/** Forward in training mode, the loss and the backward pass, shared by the step and gradient graphs. */
export function differentiate(
  model: LoadedModel,
  options: Pick<TrainingStepOptions, "modelOutput" | "batchSize" | "inputShapes" | "loss" | "frozen">,
): Differentiated {
  checkModelOutput(model, options.modelOutput);
  const { params, runningStats } = splitParameters(model, options.modelOutput, options.frozen);
  if (params.length === 0)
    throw new AutodiffError("NO_TRAINABLE_PARAMETERS", "no parameter is left to train");
  const forward = buildForward(model, { ...options, training: true });
  const { g } = forward;
  const outputInfo = forward.inferred.infos.get(options.modelOutput)!;
  const lossDefinition = losses[options.loss.type];
  const targetInfo = lossDefinition.target(outputInfo);
  const { loss, gradient, correct } = g.scoped("loss", () =>
    lossDefinition.emit(
      { g, output: options.modelOutput, outputInfo, target: TARGET_INPUT, withGradient: true },
      options.loss,
    ),
  );
  const grads = emitBackward(forward, new Map([[options.modelOutput, gradient!]]), new Set(params));
  return { forward, params, runningStats, loss, correct, grads, outputInfo, targetInfo };
}

/** Initializers of a step graph: everything the model and builder hold that is not fed as an input. */
export function fixedInitializers(
  model: LoadedModel,
  forward: ForwardGraph,
  fed: ReadonlySet<string>,
): Map<string, Tensor> {
  const all = new Map([...model.initializers, ...forward.fixed, ...forward.g.constants]);
  const used = new Set(forward.g.nodes.flatMap((n) => n.input ?? []));
  return new Map([...all].filter(([name]) => !fed.has(name) && used.has(name)));
}

/** torch.nn.utils.clip_grad_norm_: scale by min(1, max_norm / (total_norm + 1e-6)). */
function clipByGlobalNorm(g: GraphBuilder, grads: Map<string, string>, maxNorm: number): Map<string, string> {
  return g.scoped("clip_grad_norm", () => {
    const squares = [...grads.values()].map((grad) =>
      g.op("ReduceSum", [g.op("Mul", [grad, grad])], { keepdims: 0 }),
    );
    const norm = g.op("Sqrt", [squares.length === 1 ? squares[0]! : g.op("Sum", squares)]);
    const coefficient = g.op("Div", [
      g.scalar(maxNorm, "float32"),
      g.op("Add", [norm, g.scalar(1e-6, "float32")]),
    ]);
    const clamped = g.op("Min", [coefficient, g.scalar(1, "float32")]);
    return new Map([...grads].map(([param, grad]) => [param, g.op("Mul", [grad, clamped])]));
  });
}

/** Parameters of at least this many elements are fed as one row. */
const ROW_PARAMETER_ELEMENTS = 1 << 16;

/**
 * Whether the optimizer updates `init`'s parameter as one row [1, n]: a float32 tensor large
 * enough that the update's two element-wise passes (optimizers.ts, applyStep) cost more than the
 * Reshape the model then reads it through.
 */
export function isRowParameter(init: Tensor): boolean {
  return init.dtype === "float32" && elementCount(init.dims) >= ROW_PARAMETER_ELEMENTS;
}

/**
 * Makes every node read the row-shaped input `name` through a Reshape to `dims` named
 * `<name>/matrix`, emitted first; returns that name.
 */
function viewAsMatrix(g: GraphBuilder, name: string, dims: readonly number[]): string {
  const matrix = `${name}/matrix`;
  for (const node of g.nodes) node.input = (node.input ?? []).map((i) => (i === name ? matrix : i));
  g.prepend(() => {
    g.addNode({
      name: `${name}/as_matrix`,
      opType: "Reshape",
      input: [name, g.ints(dims)],
      output: [matrix],
    });
  });
  return matrix;
}

/** Gives a produced tensor a stable, readable name (graph outputs), rewriting its producer and consumers. */
function renameOutput(g: GraphBuilder, from: string, to: string): string {
  for (const node of g.nodes) {
    node.output = (node.output ?? []).map((o) => (o === from ? to : o));
    node.input = (node.input ?? []).map((i) => (i === from ? to : i));
  }
  return to;
}
