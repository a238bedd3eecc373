// The onnxruntime side of training: one session for the training step, one for evaluation,
// both created with the determinism profile's options. It feeds tensors by graph input name
// and hands back plain tensors, so the loop above it never touches onnxruntime types.
import ort from "onnxruntime-node";
import {
  buildEvalStep,
  buildTrainingStep,
  type EvalStepGraph,
  loopTrainingStep,
  packTensors,
  type TrainingStepGraph,
  unpackTensors,
} from "../autodiff/index.ts";
import type { DType, LoadedModel, Tensor, TensorData } from "../onnx/index.ts";
import { TrainError } from "./errors.ts";
import { deterministicSessionOptions } from "./profile.ts";
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

const toOrt = (t: Tensor) => new ort.Tensor(t.dtype, t.data, t.dims);
const fromOrt = (t: ort.Tensor): Tensor => ({
  dtype: t.type as DType,
  dims: [...t.dims],
  data: t.data as TensorData,
});

function stepOptions(model: LoadedModel, spec: TrainingSpec, batchSize: number | "dynamic") {
  const { optimizer: o, loss } = spec;
  const floats = [...model.initializers.values()].filter(
    (t) => t.dtype === "float32" || t.dtype === "float64",
  );
  return {
    modelOutput: spec.output,
    batchSize,
    // One packed parameter vector when the model allows it (all float32): far fewer tensors cross
    // into onnxruntime per step, and the arithmetic is element for element the same.
    packParameters: floats.every((t) => t.dtype === "float32"),
    loss:
      loss.type === "cross_entropy"
        ? { type: "cross_entropy" as const, labelSmoothing: loss.label_smoothing }
        : { type: loss.type },
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
  session: ort.InferenceSession;
  /** Everything but the model output: copying it out of onnxruntime costs time on every run. */
  fetches: string[];
  losses: string;
  corrects: string | undefined;
  params: Map<string, string>;
  state: Map<string, string>;
}

async function runGraph(
  bytes: Uint8Array,
  outputs: Omit<RunGraph, "session" | "fetches">,
): Promise<RunGraph> {
  const session = await ort.InferenceSession.create(bytes, deterministicSessionOptions);
  const fetches = [
    outputs.losses,
    ...(outputs.corrects ? [outputs.corrects] : []),
    ...outputs.params.values(),
    ...outputs.state.values(),
  ];
  return { session, fetches, ...outputs };
}

export class StepEngine {
  private constructor(
    readonly graph: TrainingStepGraph,
    private readonly single: RunGraph,
    private readonly multi: RunGraph | undefined,
    /** The most steps one run takes. */
    readonly stepsPerRun: number,
    private readonly evalSession: ort.InferenceSession | undefined,
    private readonly evalGraph: EvalStepGraph | undefined,
  ) {}

  /**
   * `batchSize` "dynamic" when some batch may be partial; evaluation always takes any batch size.
   * With `stepsPerRun` > 1 the engine also compiles the loop graph that runs up to that many steps at once.
   */
  static async create(
    model: LoadedModel,
    spec: TrainingSpec,
    batchSize: number | "dynamic",
    withEval: boolean,
    stepsPerRun: number,
  ): Promise<StepEngine> {
    const options = stepOptions(model, spec, batchSize);
    const graph = buildTrainingStep(model, options);
    const { outputs } = graph;
    const single = await runGraph(graph.bytes, {
      losses: outputs.loss,
      corrects: outputs.correct,
      params: outputs.params,
      state: outputs.state,
    });
    const looped = stepsPerRun > 1 ? loopTrainingStep(graph) : undefined;
    const multi =
      looped &&
      (await runGraph(looped.bytes, {
        losses: looped.outputs.losses,
        corrects: looped.outputs.corrects,
        params: looped.outputs.params,
        state: looped.outputs.state,
      }));
    if (!withEval) return new StepEngine(graph, single, multi, stepsPerRun, undefined, undefined);
    const evalGraph = buildEvalStep(model, {
      modelOutput: spec.output,
      batchSize: "dynamic",
      loss: options.loss,
      frozen: spec.frozen,
    });
    const evalSession = await ort.InferenceSession.create(evalGraph.bytes, deterministicSessionOptions);
    return new StepEngine(graph, single, multi, stepsPerRun, evalSession, evalGraph);
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
   * and per-parameter optimizer slots (`<param>.exp_avg`), copied out of any packed vector.
   */
  canonical(current: ModelState): ModelState {
    const packing = this.graph.packing;
    if (!packing) return current;
    const prefix = `${packing.name}.`;
    const copy = (t: Tensor): Tensor => ({ ...t, data: t.data.slice() });
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
    const target = steps === 1 ? this.single : steps <= this.stepsPerRun ? this.multi : undefined;
    if (!target) {
      throw new TrainError(
        "STEP_GRAPH_MISMATCH",
        `a run of ${steps} steps was asked of an engine that runs at most ${this.stepsPerRun}`,
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
    const result = await target.session.run(
      this.feeds(target.session, inputs.target, current, input.batch, scalars),
      target.fetches,
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
    if (!this.evalSession || !this.evalGraph) {
      throw new TrainError(
        "STEP_GRAPH_MISMATCH",
        "evaluation asked of a StepEngine created without an evaluation graph",
      );
    }
    const { inputs, outputs } = this.evalGraph;
    // The evaluation graph takes one tensor per parameter, never the packed vector.
    const fed = this.canonical(current);
    const result = await this.evalSession.run(
      this.feeds(this.evalSession, inputs.target, fed, batch, new Map()),
    );
    return {
      loss: Number(fromOrt(result[outputs.loss]!).data[0]),
      output: fromOrt(result[outputs.modelOutput]!),
    };
  }

  async release(): Promise<void> {
    await this.single.session.release();
    await this.multi?.session.release();
    await this.evalSession?.release();
  }
}
