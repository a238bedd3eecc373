// The onnxruntime side of training: one session for the training step, one for evaluation,
// both created with the determinism profile's options. It feeds tensors by graph input name
// and hands back plain tensors, so the loop above it never touches onnxruntime types.
import ort from "onnxruntime-node";
import {
  AutodiffError,
  buildEvalStep,
  buildTrainingStep,
  type EvalStepGraph,
  type LossOptions,
  loopTrainingStep,
  packTensors,
  type TrainingStepGraph,
  unpackTensors,
} from "../autodiff/index.ts";
import { allocate } from "../onnx/dtypes.ts";
import {
  type DType,
  elementCount,
  type LoadedModel,
  OnnxError,
  type Tensor,
  type TensorData,
} from "../onnx/index.ts";
import { cpuToSpare } from "./cpu-pressure.ts";
import { TrainError } from "./errors.ts";
import { sessionOptions } from "./profile.ts";
import type { TrainingSpec } from "./spec.ts";

export interface ModelState {
  params: Map<string, Tensor>;
  state: Map<string, Tensor>;
}

export interface Batch {
  /** By model input name. */
  inputs: Map<string, Tensor>;
  target: Tensor;
}

/** The steps of one onnxruntime run, in order. */
export interface RunInput {
  /** One step: tensors [batch, ...]; several: the batches stacked, [steps, batch, ...]. */
  batch: Batch;
  /** One per step. */
  learningRates: number[];
  /** 1-based number of the run's first step. */
  firstStep: number;
  /** One per step; fed only when the model has Dropout. */
  dropoutSeeds: number[];
}

export interface RunOutcome extends ModelState {
  /** One per step. */
  losses: number[];
  /** Correct predictions per step, for classification losses (the graph counts them). */
  corrects: number[] | undefined;
}

/** A tensor of one batch, without its leading batch axis; every dimension known from the data. */
export interface SampleShape {
  dtype: DType;
  sampleDims: number[];
}

/** The batches of one split (training or validation): what each sample holds and the batch sizes run. */
export interface SplitGeometry {
  /** By model input name. */
  inputs: Map<string, SampleShape>;
  target: SampleShape;
  /** The full batch size when the split has a full batch, then the size of a partial last batch. */
  sizes: number[];
}

/**
 * Every graph the engine compiles has static shapes, taken from the data: the batch size and the
 * dimensions a model leaves symbolic (sequence length, image size). Shape arithmetic in the model
 * then folds to constants before the graph is built, whatever the exporter wrote.
 */
export interface BatchGeometry {
  train: SplitGeometry;
  validation?: SplitGeometry;
}

/** The sizes of the batches `samples` split into: full ones, and the remainder unless dropped. */
export function batchSizes(samples: number, batchSize: number, dropLast: boolean): number[] {
  const sizes = samples >= batchSize ? [batchSize] : [];
  const rest = samples % batchSize;
  if (rest > 0 && !dropLast) sizes.push(rest);
  return sizes;
}

function inputShapesAt(split: SplitGeometry, size: number): Record<string, number[]> {
  return Object.fromEntries([...split.inputs].map(([name, s]) => [name, [size, ...s.sampleDims]]));
}

/** Zeros shaped like `steps` stacked batches of `size` samples of `split`. */
function zeroBatch(split: SplitGeometry, size: number, steps: number): Batch {
  const leading = steps === 1 ? [size] : [steps, size];
  const zeros = (s: SampleShape): Tensor => {
    const dims = [...leading, ...s.sampleDims];
    return { dtype: s.dtype, dims, data: allocate(s.dtype, elementCount(dims)) };
  };
  return {
    inputs: new Map([...split.inputs].map(([name, s]) => [name, zeros(s)])),
    target: zeros(split.target),
  };
}

/**
 * A failure of onnxruntime (or of building a graph) as a TrainError naming the model node it
 * comes from: step-graph nodes are named after the forward node they copy or differentiate
 * (`grad/<node>/<Op>_<n>`, `<node>/...`).
 */
export function graphFailure(error: unknown, model: LoadedModel, graph: string): TrainError {
  if (error instanceof TrainError) return error;
  if (error instanceof AutodiffError) return new TrainError("INVALID_SPEC", error.message);
  const message = error instanceof Error ? error.message : String(error);
  const stepNode =
    error instanceof OnnxError
      ? error.where
      : (/Name:'([^']*)'/.exec(message)?.[1] ?? /Node \(([^)]*)\)/.exec(message)?.[1]);
  const inGradient = stepNode?.startsWith("grad/") === true;
  const path = inGradient ? stepNode!.slice("grad/".length) : stepNode;
  const origin = path === undefined ? undefined : modelNodeAt(model, path);
  const where = origin
    ? `${inGradient ? "the gradient of " : ""}node ${origin.name} (${origin.opType})`
    : stepNode === undefined
      ? "the model"
      : `step-graph node ${stepNode}`;
  const own = error instanceof OnnxError && error.where !== undefined ? `${error.where}: ` : "";
  const reason = (message.startsWith(own) ? message.slice(own.length) : message)
    .replace(/^.*Status Message: /s, "")
    .replace(/^\[ONNXRuntimeError\] : \d+ : \w+ : /, "")
    // A kernel's own check starts with its source file and C++ signature: keep the sentence.
    .replace(/^\S+\.(?:cc|cpp|h):\d+ .*(?:\]|\) const) /s, "")
    .trim();
  return new TrainError("UNSUPPORTED_MODEL", `${graph} fails at ${where}: ${reason}`, [
    { path: origin?.name ?? stepNode ?? "model", message: reason },
  ]);
}

/** The model node a step-graph node name starts with (the longest such name, node names may contain "/"). */
function modelNodeAt(model: LoadedModel, path: string) {
  let best: LoadedModel["nodes"][number] | undefined;
  for (const node of model.nodes) {
    const matches = path === node.name || path.startsWith(`${node.name}/`);
    if (matches && node.name.length > (best?.name.length ?? -1)) best = node;
  }
  return best;
}

/** Runs `work`, turning whatever it throws into graphFailure's TrainError. */
async function guarded<T>(model: LoadedModel, graph: string, work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw graphFailure(error, model, graph);
  }
}

const toOrt = (t: Tensor) => new ort.Tensor(t.dtype, t.data, t.dims);
const fromOrt = (t: ort.Tensor): Tensor => ({
  dtype: t.type as DType,
  dims: [...t.dims],
  data: t.data as TensorData,
});

/** Packing pays while parameter tensors hold this many elements on average, or fewer. */
const PACKED_ELEMENTS_PER_TENSOR = 32768;

function lossOptions({ loss }: TrainingSpec): LossOptions {
  return loss.type === "cross_entropy"
    ? { type: "cross_entropy", labelSmoothing: loss.label_smoothing }
    : { type: loss.type };
}

function stepOptions(model: LoadedModel, spec: TrainingSpec, batchSize: number) {
  const { optimizer: o } = spec;
  const floats = [...model.initializers.values()].filter(
    (t) => t.dtype === "float32" || t.dtype === "float64",
  );
  return {
    modelOutput: spec.output,
    batchSize,
    // One packed parameter vector when the model allows it (all float32) and its tensors are
    // small: far fewer tensors cross into onnxruntime per step, and the arithmetic is element for
    // element the same. Large tensors cross cheaply but cost two copies per step to unpack and
    // pack (15% of a step of the 784-512-512-10 MLP at batch 128), so they stay apart.
    packParameters:
      floats.every((t) => t.dtype === "float32") &&
      floats.reduce((n, t) => n + t.data.length, 0) <= PACKED_ELEMENTS_PER_TENSOR * floats.length,
    loss: lossOptions(spec),
    optimizer:
      o.type === "sgd"
        ? {
            type: "sgd" as const,
            momentum: o.momentum,
            dampening: o.dampening,
            nesterov: o.nesterov,
            weightDecay: o.weight_decay,
          }
        : { type: o.type, beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weight_decay },
    ...(spec.clip_grad_norm === undefined ? {} : { clipGradNorm: spec.clip_grad_norm }),
    frozen: spec.frozen,
  };
}

/** A training-graph session (one step, or a loop over several) and the outputs the trainer reads. */
interface RunGraph {
  /** Its pool threads sleep when idle. */
  session: ort.InferenceSession;
  /** The same graph with pool threads that spin through a run: with more than one thread only. */
  spinning: ort.InferenceSession | undefined;
  /** Everything but the model output: copying it out of onnxruntime costs time on every run. */
  fetches: string[];
  losses: string;
  corrects: string | undefined;
  params: Map<string, string>;
  state: Map<string, string>;
}

async function runGraph(
  model: LoadedModel,
  threads: number,
  bytes: Uint8Array,
  outputs: Omit<RunGraph, "session" | "spinning" | "fetches">,
): Promise<RunGraph> {
  const create = (spinning: boolean) =>
    guarded(model, "the training step", () =>
      ort.InferenceSession.create(bytes, sessionOptions(threads, { spinning })),
    );
  const session = await create(false);
  const spinning = threads > 1 ? await create(true) : undefined;
  const fetches = [
    outputs.losses,
    ...(outputs.corrects ? [outputs.corrects] : []),
    ...outputs.params.values(),
    ...outputs.state.values(),
  ];
  return { session, spinning, fetches, ...outputs };
}

interface EvalGraph {
  session: ort.InferenceSession;
  graph: EvalStepGraph;
}

export class StepEngine {
  private constructor(
    private readonly model: LoadedModel,
    private readonly geometry: BatchGeometry,
    /** The step graph of the first training batch size; every size's has the same inputs and state. */
    readonly graph: TrainingStepGraph,
    /** One-step graphs by batch size. */
    private readonly singles: Map<number, RunGraph>,
    /** The loop of full batches, when runs take more than one step. */
    private readonly multi: RunGraph | undefined,
    /** The most steps one run takes. */
    readonly stepsPerRun: number,
    /** Evaluation graphs by batch size (none without validation). */
    private readonly evals: Map<number, EvalGraph>,
    /** Intra-op threads of every session. */
    readonly threads: number,
  ) {}

  /** Training runs so far, and how many of them had spinning pool threads (see cpu-pressure.ts). */
  readonly runs = { total: 0, spinning: 0 };

  /**
   * Compiles a one-step graph for every training batch size of `geometry`, the loop graph over
   * full batches when `stepsPerRun` > 1, and an evaluation graph for every validation batch size.
   */
  static async create(
    model: LoadedModel,
    spec: TrainingSpec,
    geometry: BatchGeometry,
    stepsPerRun: number,
    /** Intra-op threads of every session (part of the determinism profile). */
    threads: number,
  ): Promise<StepEngine> {
    const { train, validation } = geometry;
    const graphs = await guarded(model, "building the training step", () =>
      train.sizes.map((size) =>
        buildTrainingStep(model, {
          ...stepOptions(model, spec, size),
          inputShapes: inputShapesAt(train, size),
          threads,
        }),
      ),
    );
    const singles = new Map<number, RunGraph>();
    for (const [i, graph] of graphs.entries()) {
      const { outputs } = graph;
      singles.set(
        train.sizes[i]!,
        await runGraph(model, threads, graph.bytes, {
          losses: outputs.loss,
          corrects: outputs.correct,
          params: outputs.params,
          state: outputs.state,
        }),
      );
    }
    const graph = graphs[0]!;
    const looped =
      stepsPerRun > 1 && train.sizes[0] === spec.batch_size
        ? await guarded(model, "building the training loop", () => loopTrainingStep(graph))
        : undefined;
    const multi =
      looped &&
      (await runGraph(model, threads, looped.bytes, {
        losses: looped.outputs.losses,
        corrects: looped.outputs.corrects,
        params: looped.outputs.params,
        state: looped.outputs.state,
      }));
    const evals = new Map<number, EvalGraph>();
    for (const size of validation?.sizes ?? []) {
      const evalGraph = await guarded(model, "building the evaluation step", () =>
        buildEvalStep(model, {
          modelOutput: spec.output,
          batchSize: size,
          inputShapes: inputShapesAt(validation!, size),
          loss: lossOptions(spec),
          frozen: spec.frozen,
        }),
      );
      const session = await guarded(model, "the evaluation step", () =>
        ort.InferenceSession.create(evalGraph.bytes, sessionOptions(threads)),
      );
      evals.set(size, { session, graph: evalGraph });
    }
    return new StepEngine(model, geometry, graph, singles, multi, stepsPerRun, evals, threads);
  }

  /**
   * Runs every compiled graph once on zeros shaped like the data (one step of each training batch
   * size, two steps of the loop, one evaluation of each validation batch size), so that a model
   * whose step fails does so before training, with a TrainError naming the node.
   */
  async probe(): Promise<void> {
    const current = this.initialState();
    const { train, validation } = this.geometry;
    const step = (steps: number) => ({
      learningRates: new Array(steps).fill(0),
      firstStep: 1,
      dropoutSeeds: new Array(steps).fill(0),
    });
    for (const size of train.sizes) await this.run(current, { batch: zeroBatch(train, size, 1), ...step(1) });
    if (this.multi) await this.run(current, { batch: zeroBatch(train, train.sizes[0]!, 2), ...step(2) });
    for (const size of this.evals.keys()) await this.evaluate(current, zeroBatch(validation!, size, 1));
  }

  /** Parameters from the model file and the graph's initial optimizer state, in the graph's own form. */
  initialState(): ModelState {
    return {
      params: new Map(this.graph.initialParams),
      state: new Map(this.graph.state.map((s) => [s.name, s.init])),
    };
  }

  /**
   * The state as checkpoints store it, whatever the graph's form: one tensor per model parameter
   * and per-parameter optimizer slots (`<param>.exp_avg`), copied out of any packed vector, or
   * with `views`, viewing into it: for a reader done with them before the next run, as a hash is.
   */
  canonical(current: ModelState, { views = false } = {}): ModelState {
    const packing = this.graph.packing;
    if (!packing) return current;
    const prefix = `${packing.name}.`;
    const copy = (t: Tensor): Tensor => (views ? t : { ...t, data: t.data.slice() });
    const unpack = (vector: Tensor, suffix: string) =>
      [...unpackTensors(packing, vector)].map(([name, t]): [string, Tensor] => [`${name}${suffix}`, copy(t)]);
    const state = [...current.state].flatMap(([name, value]) =>
      name.startsWith(prefix)
        ? unpack(value, `.${name.slice(prefix.length)}`)
        : [[name, value] as [string, Tensor]],
    );
    return { params: new Map(unpack(current.params.get(packing.name)!, "")), state: new Map(state) };
  }

  /** The inverse of canonical(): a checkpoint's state in the graph's own form, after checking it fits. */
  fromCanonical(stored: ModelState): ModelState {
    const expected = this.canonical(this.initialState());
    const problems = (["params", "state"] as const).flatMap((part) =>
      [...expected[part]].flatMap(([name, t]) => {
        const found = stored[part].get(name);
        if (!found) return [`${name} is missing`];
        const same = found.dtype === t.dtype && found.dims.join() === t.dims.join();
        return same
          ? []
          : [`${name} is ${found.dtype} [${found.dims}], the model needs ${t.dtype} [${t.dims}]`];
      }),
    );
    if (problems.length > 0) {
      throw new TrainError(
        "CHECKPOINT_MISMATCH",
        "the checkpoint does not fit this model and spec:",
        problems.map((message) => ({ path: "checkpoint", message })),
      );
    }
    const packing = this.graph.packing;
    if (!packing) return stored;
    const prefix = `${packing.name}.`;
    const pack = (values: Map<string, Tensor>, suffix: string) =>
      packTensors(
        packing,
        new Map(packing.slots.map((slot) => [slot.name, values.get(`${slot.name}${suffix}`)!])),
      );
    return {
      params: new Map([[packing.name, pack(stored.params, "")]]),
      state: new Map(
        this.graph.state.map((s) => [
          s.name,
          s.name.startsWith(prefix)
            ? pack(stored.state, `.${s.name.slice(prefix.length)}`)
            : stored.state.get(s.name)!,
        ]),
      ),
    };
  }

  /** Values for every input the session declares, looked up by name. */
  private feeds(
    session: ort.InferenceSession,
    targetInput: string,
    current: ModelState,
    batch: Batch,
    scalars: Map<string, Tensor>,
  ): Record<string, ort.Tensor> {
    // fromEntries defines each name as an own property: a parameter the uploader named
    // "__proto__" is fed like any other instead of replacing the object's prototype.
    return Object.fromEntries(
      session.inputNames.map((name) => {
        const value =
          current.params.get(name) ??
          current.state.get(name) ??
          batch.inputs.get(name) ??
          scalars.get(name) ??
          (name === targetInput ? batch.target : undefined);
        if (!value) throw new TrainError("STEP_GRAPH_MISMATCH", `step graph input ${name} has no value`);
        return [name, toOrt(value)];
      }),
    );
  }

  /**
   * Up to `stepsPerRun` consecutive optimizer steps in one onnxruntime run (the batches stacked
   * when more than one). Every step computes exactly what a run of that step alone would.
   */
  async run(current: ModelState, input: RunInput): Promise<RunOutcome> {
    const steps = input.learningRates.length;
    const size = input.batch.target.dims[steps === 1 ? 0 : 1]!;
    const target = steps === 1 ? this.singles.get(size) : steps <= this.stepsPerRun ? this.multi : undefined;
    if (!target) {
      throw new TrainError(
        "STEP_GRAPH_MISMATCH",
        `a run of ${steps} steps of ${size} samples was asked of an engine that runs at most ${this.stepsPerRun} steps of ${[...this.singles.keys()].join(" or ")}`,
      );
    }
    const { inputs } = this.graph;
    // Scalars of the one-step graph, vectors of one entry per step in the loop.
    const dims = steps === 1 ? [] : [steps];
    const int64 = (values: number[]): Tensor => ({
      dtype: "int64",
      dims,
      data: BigInt64Array.from(values, BigInt),
    });
    const scalars = new Map<string, Tensor>([
      [inputs.learningRate, { dtype: "float32", dims, data: Float32Array.from(input.learningRates) }],
      [inputs.step, int64(input.learningRates.map((_, i) => input.firstStep + i))],
    ]);
    if (inputs.dropoutSeed) scalars.set(inputs.dropoutSeed, int64(input.dropoutSeeds));
    const session = target.spinning !== undefined && cpuToSpare() ? target.spinning : target.session;
    this.runs.total += 1;
    if (session !== target.session) this.runs.spinning += 1;
    const result = await guarded(this.model, "the training step", () =>
      session.run(this.feeds(session, inputs.target, current, input.batch, scalars), target.fetches),
    );
    const numbers = (name: string) => Array.from(result[name]!.data as Float32Array | Float64Array);
    const read = (names: Map<string, string>) =>
      new Map([...names].map(([input, output]) => [input, fromOrt(result[output]!)]));
    return {
      losses: numbers(target.losses),
      corrects: target.corrects === undefined ? undefined : numbers(target.corrects),
      params: read(target.params),
      state: read(target.state),
    };
  }

  /** Loss and model output in inference mode (running statistics, no dropout). */
  async evaluate(current: ModelState, batch: Batch): Promise<{ loss: number; output: Tensor }> {
    const size = batch.target.dims[0]!;
    const compiled = this.evals.get(size);
    if (!compiled) {
      throw new TrainError(
        "STEP_GRAPH_MISMATCH",
        `evaluation of ${size} samples asked of an engine compiled for ${[...this.evals.keys()].join(", ") || "no validation"}`,
      );
    }
    const { session, graph } = compiled;
    // The evaluation graph takes one tensor per parameter, never the packed vector.
    const fed = this.canonical(current);
    const result = await guarded(this.model, "the evaluation step", () =>
      session.run(this.feeds(session, graph.inputs.target, fed, batch, new Map())),
    );
    return {
      loss: Number(fromOrt(result[graph.outputs.loss]!).data[0]),
      output: fromOrt(result[graph.outputs.modelOutput]!),
    };
  }

  async release(): Promise<void> {
    for (const graph of [...this.singles.values(), ...(this.multi ? [this.multi] : [])]) {
      await graph.session.release();
      await graph.spinning?.release();
    }
    for (const { session } of this.evals.values()) await session.release();
  }
}
