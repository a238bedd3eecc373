// The onnxruntime side of training: one session for the training step, one for evaluation,
// both created with the determinism profile's options. It feeds tensors by graph input name
// and hands back plain tensors, so the loop above it never touches onnxruntime types.
import ort from "onnxruntime-node";
import {
  AutodiffError,
  buildEvalStep,
  type EvalStepGraph,
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
import type { INodeProto } from "../onnx/proto.ts";
import { cpuToSpare } from "./cpu-pressure.ts";
import { gatherSamples } from "./data/prepare.ts";
import { TrainError } from "./errors.ts";
import { optimisedGraph, trainingStepGraph } from "./optimised-graph.ts";
import { exposeNodeOutputs, graphInitializers } from "./pinpoint-graphs.ts";
import { sessionOptions } from "./profile.ts";
import type { TrainingSpec } from "./spec.ts";
import { inputShapesAt, lossOptions } from "./step-options.ts";
import { apart } from "./work-cpu.ts";

export interface ModelState {
  params: Map<string, Tensor>;
  state: Map<string, Tensor>;
}

/** Samples: tensors whose first axis is the sample. */
export interface Batch {
  /** By model input name. */
  inputs: Map<string, Tensor>;
  target: Tensor;
}

/** The steps of one onnxruntime run, in order. */
export interface RunInput {
  /** The samples the steps take their batches from: the whole split (samples are not copied). */
  samples: Batch;
  /** Each step's batch in turn, by index into `samples`: steps × batch size entries. */
  indices: Uint32Array;
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

/** One traced step (StepEngine.trace). */
export interface StepTraceRun {
  /** The step graph's nodes in topological order. */
  nodes: INodeProto[];
  /** Each node's named outputs, in its output order. */
  outputs: Tensor[][];
  /** Every graph input's value, by name. */
  fed: Map<string, Tensor>;
  /** The graph's constant tensors (frozen weights, folded constants), by name. */
  initializers: Map<string, Tensor>;
  /** The graph outputs the next state is assembled from, by the state's input name. */
  stateOutputs: { params: Map<string, string>; state: Map<string, string> };
  outcome: RunOutcome;
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

/** `size` samples of `split`, all zeros. */
function zeroBatch(split: SplitGeometry, size: number): Batch {
  const zeros = (s: SampleShape): Tensor => {
    const dims = [size, ...s.sampleDims];
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
  const { where, node } =
    stepNode === undefined ? { where: "the model", node: undefined } : stepNodeOrigin(model, stepNode);
  const own = error instanceof OnnxError && error.where !== undefined ? `${error.where}: ` : "";
  const reason = (message.startsWith(own) ? message.slice(own.length) : message)
    .replace(/^.*Status Message: /s, "")
    .replace(/^\[ONNXRuntimeError\] : \d+ : \w+ : /, "")
    // A kernel's own check starts with its source file and C++ signature: keep the sentence.
    .replace(/^\S+\.(?:cc|cpp|h):\d+ .*(?:\]|\) const) /s, "")
    .trim();
  return new TrainError("UNSUPPORTED_MODEL", `${graph} fails at ${where}: ${reason}`, [
    { path: node ?? stepNode ?? "model", message: reason },
  ]);
}

/**
 * The model node a step-graph node comes from, in words ("the gradient of node /Sqrt (Sqrt)"),
 * and its name; step-graph nodes of no model node (loss, optimizer) by their own name.
 */
export function stepNodeOrigin(model: LoadedModel, stepNode: string): { where: string; node?: string } {
  // onnxruntime names a node it fused from others "fused <first node's name>" (FusedGemm, FusedConv).
  const unfused = stepNode.startsWith("fused ") ? stepNode.slice("fused ".length) : stepNode;
  const inGradient = unfused.startsWith("grad/");
  const origin = modelNodeAt(model, inGradient ? unfused.slice("grad/".length) : unfused);
  if (!origin) return { where: `step-graph node ${stepNode}` };
  return {
    where: `${inGradient ? "the gradient of " : ""}node ${origin.name} (${origin.opType})`,
    node: origin.name,
  };
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

/** The samples `indices` of `samples`, in that order (one step's batch). */
export function takeSamples(samples: Batch, indices: ArrayLike<number>): Batch {
  const take = (t: Tensor): Tensor => ({
    dtype: t.dtype,
    dims: [indices.length, ...t.dims.slice(1)],
    data: gatherSamples({ dtype: t.dtype, sampleSize: elementCount(t.dims.slice(1)), data: t.data }, indices),
  });
  return {
    inputs: new Map([...samples.inputs].map(([name, t]) => [name, take(t)])),
    target: take(samples.target),
  };
}

/** How many samples each step of `input` takes. */
export function batchSizeOf(input: RunInput): number {
  return input.indices.length / input.learningRates.length;
}

/** A training-graph session (one step, or a loop over several) and the outputs the trainer reads. */
interface RunGraph {
  /** The loop's input of each step's sample indices (MultiStepGraph.samples); none for one step. */
  samples?: string;
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
    /** The one-step graph of every training batch size. */
    private readonly stepGraphs: Map<number, TrainingStepGraph>,
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
    const graphs: TrainingStepGraph[] = [];
    for (const size of train.sizes) {
      graphs.push(
        await guarded(model, "building the training step", () =>
          trainingStepGraph(model, spec, train, size, threads),
        ),
      );
    }
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
        samples: looped.samples,
        losses: looped.outputs.losses,
        corrects: looped.outputs.corrects,
        params: looped.outputs.params,
        state: looped.outputs.state,
      }));
    const evals = new Map<number, EvalGraph>();
    for (const size of validation?.sizes ?? []) {
      const evalGraph = await guarded(model, "building the evaluation step", async () => {
        const built = buildEvalStep(model, {
          modelOutput: spec.output,
          batchSize: size,
          inputShapes: inputShapesAt(validation!, size),
          loss: lossOptions(spec),
          frozen: spec.frozen,
        });
        return { ...built, bytes: await optimisedGraph(built.bytes) };
      });
      const session = await guarded(model, "the evaluation step", () =>
        ort.InferenceSession.create(evalGraph.bytes, sessionOptions(threads)),
      );
      evals.set(size, { session, graph: evalGraph });
    }
    const stepGraphs = new Map(graphs.map((g, i) => [train.sizes[i]!, g]));
    return new StepEngine(model, geometry, graph, stepGraphs, singles, multi, stepsPerRun, evals, threads);
  }

  /**
   * Runs every compiled graph once on zeros shaped like the data (one step of each training batch
   * size, two steps of the loop, one evaluation of each validation batch size), so that a model
   * whose step fails does so before training, with a TrainError naming the node.
   */
  async probe(): Promise<void> {
    const current = this.initialState();
    const { train, validation } = this.geometry;
    for (const size of train.sizes) {
      const outcome = await this.run(current, this.zeroRun(size, 1));
      if (size === 1) this.refuseSingleValueBatchNorm(outcome);
    }
    if (this.multi) await this.run(current, this.zeroRun(train.sizes[0]!, 2));
    for (const size of this.evals.keys()) await this.evaluate(current, zeroBatch(validation!, size));
  }

  /**
   * PyTorch refuses to train a BatchNormalization on one value per channel (a batch of one
   * sample without spatial positions): the unbiased variance divides by zero and the running
   * variance becomes NaN, silently here. On zeros that variance is 0·(1/0), NaN exactly then.
   */
  private refuseSingleValueBatchNorm(outcome: RunOutcome): void {
    for (const node of this.model.nodes) {
      if (node.opType !== "BatchNormalization") continue;
      const running = node.inputs[4] ?? "";
      const variance = outcome.state.get(running) ?? outcome.params.get(running);
      if (variance === undefined || (variance.data as Float32Array).every(Number.isFinite)) continue;
      throw new TrainError(
        "INVALID_SPEC",
        `BatchNormalization node ${node.name} would see one value per channel in a training batch of 1 sample, whose variance is undefined (PyTorch refuses it too: "Expected more than 1 value per channel when training"); pick a batch_size that leaves no batch of 1 (the last batch holds the remainder of the training samples) or set drop_last`,
      );
    }
  }

  /** A run of `steps` steps on batches of `size` zero samples, at learning rate 0. */
  private zeroRun(size: number, steps: number): RunInput {
    return {
      samples: zeroBatch(this.geometry.train, size),
      indices: Uint32Array.from({ length: steps * size }, (_, i) => i % size),
      learningRates: new Array(steps).fill(0),
      firstStep: 1,
      dropoutSeeds: new Array(steps).fill(0),
    };
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
    if (!packing) return { params: this.reshaped(current.params, "model"), state: current.state };
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
    // Only names, types and shapes are read: views, not copies.
    const expected = this.canonical(this.initialState(), { views: true });
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
    if (!packing) return { params: this.reshaped(stored.params, "graph"), state: stored.state };
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

  /**
   * `params` with each parameter the graph feeds as one row (TrainingStepGraph.rows) in the
   * model's dims or the graph's: a view of the same elements either way.
   */
  private reshaped(params: Map<string, Tensor>, as: "model" | "graph"): Map<string, Tensor> {
    const rows = this.graph.rows;
    if (!rows) return params;
    return new Map(
      [...params].map(([name, t]): [string, Tensor] => {
        const dims = rows.get(name);
        if (!dims) return [name, t];
        return [name, { ...t, dims: as === "model" ? dims : [1, elementCount(dims)] }];
      }),
    );
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

  /** The learning rate, step number and dropout seed inputs: scalars for one step, vectors in the loop. */
  private scalars(input: RunInput): Map<string, Tensor> {
    const steps = input.learningRates.length;
    const { inputs } = this.graph;
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
    return scalars;
  }

  /**
   * Up to `stepsPerRun` consecutive optimizer steps in one onnxruntime run (the Loop, which takes
   * its batches by index, when more than one). Every step computes exactly what a run of that
   * step alone would.
   */
  async run(current: ModelState, input: RunInput): Promise<RunOutcome> {
    const steps = input.learningRates.length;
    const size = batchSizeOf(input);
    const target = steps === 1 ? this.singles.get(size) : steps <= this.stepsPerRun ? this.multi : undefined;
    if (!target) {
      throw new TrainError(
        "STEP_GRAPH_MISMATCH",
        `a run of ${steps} steps of ${size} samples was asked of an engine that runs at most ${this.stepsPerRun} steps of ${[...this.singles.keys()].join(" or ")}`,
      );
    }
    return this.outcome(target, await this.execute(target, current, input, this.scalars(input)));
  }

  private async execute(
    target: RunGraph,
    current: ModelState,
    input: RunInput,
    scalars: Map<string, Tensor>,
  ): Promise<ort.InferenceSession.ReturnType> {
    const session = target.spinning !== undefined && cpuToSpare() ? target.spinning : target.session;
    this.runs.total += 1;
    if (session !== target.session) this.runs.spinning += 1;
    const fed = this.batchFeeds(input, scalars, target.samples);
    return guarded(this.model, "the training step", () =>
      session.run(
        this.feeds(session, this.graph.inputs.target, current, fed.batch, fed.scalars),
        target.fetches,
      ),
    );
  }

  /**
   * The samples and scalars a run of `input` feeds: one step's batch, or, to a loop whose input
   * `samples` takes each step's sample indices, every sample and the [steps, batch] indices (a
   * view of `input.indices`: run-setup.ts splitSamples refuses a split of 2^31 samples or more).
   */
  private batchFeeds(
    input: RunInput,
    scalars: Map<string, Tensor>,
    samples: string | undefined,
  ): { batch: Batch; scalars: Map<string, Tensor> } {
    if (samples === undefined) return { batch: takeSamples(input.samples, input.indices), scalars };
    const { indices } = input;
    const sampleIndices: Tensor = {
      dtype: "int32",
      dims: [input.learningRates.length, batchSizeOf(input)],
      data: new Int32Array(indices.buffer, indices.byteOffset, indices.length),
    };
    return { batch: input.samples, scalars: new Map([...scalars, [samples, sampleIndices]]) };
  }

  /** The loop that also emits the state within a run (LoopOptions.leaves): built on first use, by verifiers. */
  private leafLoop: Promise<RunGraph & { ends: string }> | undefined;

  /**
   * A run of 2 to `stepsPerRun` full batches, as run() computes it, that also returns the state
   * after each of `ends` (ascending step counts within the run, the last = the run's length): a
   * verifier's transcript leaves in one run. Each state's tensors view the run's outputs.
   */
  async runWithLeaves(
    current: ModelState,
    input: RunInput,
    ends: number[],
  ): Promise<RunOutcome & { leaves: ModelState[] }> {
    const steps = input.learningRates.length;
    const ascending = ends.every((end, i) => end > (ends[i - 1] ?? 0));
    if (!this.multi || steps < 2 || steps > this.stepsPerRun || !ascending || ends.at(-1) !== steps) {
      throw new TrainError(
        "STEP_GRAPH_MISMATCH",
        `a run of ${steps} steps with states after steps ${ends.join(", ")} was asked of an engine that runs at most ${this.multi ? this.stepsPerRun : 1} steps`,
      );
    }
    // Set-up, if late, and probed like the others: kept with the engine, so a verifier builds it
    // once per task it audits.
    this.leafLoop ??= apart(() =>
      guarded(this.model, "building the training loop", async () => {
        const looped = loopTrainingStep(this.graph, { leaves: true });
        const { ends, params, state } = looped.leaves!;
        const graph = await runGraph(this.model, this.threads, looped.bytes, {
          samples: looped.samples,
          losses: looped.outputs.losses,
          corrects: looped.outputs.corrects,
          params,
          state,
        });
        const loop = { ...graph, ends };
        const probe = this.zeroRun(this.geometry.train.sizes[0]!, 2);
        await this.execute(loop, this.initialState(), probe, this.leafScalars(loop, probe, [1, 2]));
        return loop;
      }),
    );
    const target = await this.leafLoop;
    const scalars = this.leafScalars(target, input, ends);
    const stacked = this.outcome(target, await this.execute(target, current, input, scalars));
    const windows = (tensors: Map<string, Tensor>) =>
      ends.map(
        (_, w) =>
          new Map(
            [...tensors].map(([name, t]): [string, Tensor] => {
              const size = t.data.length / ends.length;
              return [
                name,
                { dtype: t.dtype, dims: t.dims.slice(1), data: t.data.subarray(w * size, (w + 1) * size) },
              ];
            }),
          ),
      );
    const params = windows(stacked.params);
    const state = windows(stacked.state);
    const leaves = ends.map((_, w) => ({ params: params[w]!, state: state[w]! }));
    return { ...stacked, ...leaves.at(-1)!, leaves };
  }

  /** The leaf loop's scalar inputs: the run's, and the step counts after which it emits the state. */
  private leafScalars(loop: { ends: string }, input: RunInput, ends: number[]): Map<string, Tensor> {
    const scalars = this.scalars(input);
    scalars.set(loop.ends, { dtype: "int64", dims: [ends.length], data: BigInt64Array.from(ends, BigInt) });
    return scalars;
  }

  private outcome(
    target: Omit<RunGraph, "session" | "spinning" | "fetches">,
    result: ort.InferenceSession.ReturnType,
  ) {
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

  /**
   * The value of every input of the one-step graph for `input` (one step) from `current`, by name:
   * what a referee feeds the operator it re-executes when an input comes from the agreed state.
   * With `loopSamples` (MultiStepGraph.samples), those of the loop over `input`'s steps.
   */
  stepFeeds(current: ModelState, input: RunInput, loopSamples?: string): Map<string, Tensor> {
    const { batch, scalars } = this.batchFeeds(input, this.scalars(input), loopSamples);
    return new Map<string, Tensor>([
      ...current.params,
      ...current.state,
      ...batch.inputs,
      [this.graph.inputs.target, batch.target],
      ...scalars,
    ]);
  }

  /** The serialized one-step graph of batches of `size` samples. */
  stepGraphBytes(size: number): Uint8Array {
    const graph = this.stepGraphs.get(size);
    if (!graph) {
      throw new TrainError(
        "STEP_GRAPH_MISMATCH",
        `a step of ${size} samples was asked of an engine compiled for ${[...this.stepGraphs.keys()].join(" or ")}`,
      );
    }
    return graph.bytes;
  }

  /**
   * One step (`input` of one step) in the step graph with the output of every node exposed, for
   * the pinpoint game (PROTOCOL.md §6.3): the graph's nodes in topological order, their outputs,
   * the values fed to the graph, and the step's outcome. The graph is already optimised and runs
   * with optimisation off (optimised-graph.ts), so exposing outputs changes no bit: the outcome
   * equals run()'s.
   */
  async trace(current: ModelState, input: RunInput): Promise<StepTraceRun> {
    if (input.learningRates.length !== 1) {
      throw new TrainError("STEP_GRAPH_MISMATCH", "a traced run takes exactly one step");
    }
    const size = batchSizeOf(input);
    const graph = this.stepGraphs.get(size)!;
    const { bytes, nodes } = exposeNodeOutputs(this.stepGraphBytes(size));
    const session = await guarded(this.model, "the traced training step", () =>
      ort.InferenceSession.create(bytes, sessionOptions(this.threads)),
    );
    try {
      const { batch, scalars } = this.batchFeeds(input, this.scalars(input), undefined);
      const feeds = this.feeds(session, graph.inputs.target, current, batch, scalars);
      const result = await guarded(this.model, "the traced training step", () => session.run(feeds));
      const { outputs } = graph;
      return {
        nodes,
        outputs: nodes.map((node) =>
          (node.output ?? []).filter((o) => o !== "").map((o) => fromOrt(result[o]!)),
        ),
        fed: new Map(Object.entries(feeds).map(([name, t]) => [name, fromOrt(t)])),
        initializers: graphInitializers(graph.bytes),
        stateOutputs: { params: outputs.params, state: outputs.state },
        outcome: this.outcome(
          { losses: outputs.loss, corrects: outputs.correct, params: outputs.params, state: outputs.state },
          result,
        ),
      };
    } finally {
      await session.release();
    }
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
    // A leaf loop that failed to build has no session; its caller got the error.
    const leafLoop = this.leafLoop && (await this.leafLoop.catch(() => undefined));
    for (const graph of [
      ...this.singles.values(),
      ...(this.multi ? [this.multi] : []),
      ...(leafLoop ? [leafLoop] : []),
    ]) {
      await graph.session.release();
      await graph.spinning?.release();
    }
    for (const { session } of this.evals.values()) await session.release();
  }
}
