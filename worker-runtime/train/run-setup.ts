// Everything a training run and a segment replay share: the spec parsed, the model loaded and
// checked, the data checked against it and converted, the step engine built. A verifier that
// replays a segment goes through exactly this, so it sees exactly the worker's graph and batches.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { unsupportedOperators } from "../autodiff/index.ts";
import {
  elementCount,
  estimateTrainingFlops,
  type LoadedModel,
  loadModel,
  type Tensor,
} from "../onnx/index.ts";
import type { Correct } from "./accuracy.ts";
import type { TrainingState } from "./checkpoint.ts";
import type { RunIdentity } from "./checkpoint-dir.ts";
import { type BatchOrder, type BatchPlan, batchesPerEpoch, type DataPosition } from "./data/batches.ts";
import { type Dataset, readDataset } from "./data/dataset.ts";
import { type PreparedData, type PreparedSplit, prepareData } from "./data/prepare.ts";
import { Xoshiro128 } from "./data/prng.ts";
import { divergedError, firstNonFinite } from "./divergence.ts";
import { TrainError } from "./errors.ts";
import { checkThreads } from "./profile.ts";
import { learningRateAt } from "./schedule.ts";
import { parseTrainingSpec, type TrainingSpec } from "./spec.ts";
import { type Batch, batchSizeOf, type RunInput, type RunOutcome, StepEngine } from "./step-engine.ts";
import { batchGeometry } from "./step-options.ts";
import { apart } from "./work-cpu.ts";

export interface DatasetSource {
  bytes: Uint8Array;
  /** The file name; its extension picks the reader (.safetensors, .npz, .npy, .csv). */
  fileName: string;
}

export interface RunSetup {
  spec: TrainingSpec;
  model: LoadedModel;
  dataset: Dataset;
  data: PreparedData;
  plan: BatchPlan;
  batchesPerEpoch: number;
  /** Whether the last batch of every epoch is smaller than the others. */
  partialLastBatch: boolean;
  totalSteps: number;
  identity: RunIdentity;
  /** Generator state after the validation split: where epoch 0 starts. */
  initialRng: Uint32Array;
  engine: StepEngine;
  /** The training split's samples as the engine takes them (views of `data.train`). */
  samples: Batch;
}

const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

/** Operators outside the gradient table and frozen names the model lacks, as TrainErrors. */
export function checkModel(model: LoadedModel, spec: TrainingSpec): void {
  const missing = unsupportedOperators(model);
  if (missing.length > 0) {
    throw new TrainError(
      "UNSUPPORTED_MODEL",
      "the model uses operators the trainer cannot differentiate:",
      missing.map((m) => ({ path: m.opType, message: `nodes ${m.nodes.join(", ")}` })),
    );
  }
  const unknown = spec.frozen.filter((name) => !model.initializers.has(name));
  if (unknown.length > 0) {
    throw new TrainError(
      "INVALID_SPEC",
      "frozen names parameters the model does not have:",
      unknown.map((name) => ({ path: "/frozen", message: `${name} is not an initializer of the model` })),
    );
  }
}

function totalStepsOf(spec: TrainingSpec, perEpoch: number): number {
  const byEpochs = spec.epochs === undefined ? Number.POSITIVE_INFINITY : spec.epochs * perEpoch;
  return Math.min(byEpochs, spec.max_steps ?? Number.POSITIVE_INFINITY);
}

export interface SetUpOptions {
  /**
   * The most optimizer steps one onnxruntime run takes (runs also stop at every checkpoint and
   * epoch end). Speed only: the results are bit-identical for any value. Default: see
   * defaultStepsPerRun.
   */
  stepsPerRun?: number;
  /** Intra-op threads of the onnxruntime sessions (default 1): part of the determinism profile. */
  threads?: number;
}

/** The SetUpOptions among a caller's options, leaving out the ones it did not set. */
export function runOptions(options: SetUpOptions): SetUpOptions {
  return {
    ...(options.stepsPerRun === undefined ? {} : { stepsPerRun: options.stepsPerRun }),
    ...(options.threads === undefined ? {} : { threads: options.threads }),
  };
}

// Past a few dozen steps a run's fixed cost is already negligible.
const MAX_STEPS_PER_RUN = 64;
// About a third of a second of single-threaded arithmetic at the ~100 GFLOP/s a core's SGEMM
// reaches: a compute-bound model still takes many steps per run, because every run copies the
// parameters and optimizer state in and out (measured: 8 steps per run ran the 784-512-512-10 MLP
// at batch 128 about twice as fast as one) and the garbage collector then frees those copies
// (with 1e10, 19 steps per run, the collector's threads took 3% of that MLP's CPU; at 64, 1%).
const RUN_FLOPS = 3e10;

/**
 * Everything a run or replay needs before its first step. Its CPU is kept apart from a measured
 * run's (work-cpu.ts): a verifier sets up once per task it audits, a worker once per run, so a
 * node's compute per step leaves it out.
 */
export function setUpRun(
  modelBytes: Uint8Array,
  source: DatasetSource,
  rawSpec: unknown,
  options: SetUpOptions = {},
): Promise<RunSetup> {
  return apart(() => buildRun(modelBytes, source, rawSpec, options));
}

/**
 * A run set up, and every step graph run once (StepEngine.probe): a model whose step fails is
 * refused before any work, and the sessions' first runs, which pay onnxruntime's allocations, are
 * part of the set-up, on a worker's side and a verifier's alike.
 */
export function setUpProbedRun(
  modelBytes: Uint8Array,
  source: DatasetSource,
  rawSpec: unknown,
  options: SetUpOptions = {},
): Promise<RunSetup> {
  return apart(async () => {
    const setup = await buildRun(modelBytes, source, rawSpec, options);
    try {
      await setup.engine.probe();
      return setup;
    } catch (error) {
      await setup.engine.release();
      throw error;
    }
  });
}

async function buildRun(
  modelBytes: Uint8Array,
  source: DatasetSource,
  rawSpec: unknown,
  options: SetUpOptions,
): Promise<RunSetup> {
  const spec = parseTrainingSpec(rawSpec);
  const model = loadModel(modelBytes);
  checkModel(model, spec);
  const dataset = readDataset(source.bytes, source.fileName);
  const rng = Xoshiro128.fromSeed(spec.seed);
  const data = prepareData(model, dataset, spec, rng);
  const plan: BatchPlan = {
    samples: data.train.samples,
    batchSize: spec.batch_size,
    shuffle: spec.shuffle,
    dropLast: spec.drop_last,
  };
  const perEpoch = batchesPerEpoch(plan);
  if (perEpoch === 0) {
    throw new TrainError(
      "INVALID_SPEC",
      `drop_last with batch_size ${spec.batch_size} leaves no batch of the ${plan.samples} training samples`,
    );
  }
  const partialLastBatch = plan.samples % plan.batchSize !== 0 && !plan.dropLast;
  const totalSteps = totalStepsOf(spec, perEpoch);
  const engine = await createEngine(
    model,
    spec,
    data,
    { train: data.train.samples, validation: data.validation?.samples },
    options,
  );
  const identity: RunIdentity = {
    model_sha256: sha256(modelBytes),
    dataset_sha256: sha256(source.bytes),
    spec_sha256: sha256(canonicalize(spec)!),
    total_steps: totalSteps,
  };
  return {
    spec,
    model,
    dataset,
    data,
    plan,
    batchesPerEpoch: perEpoch,
    partialLastBatch,
    totalSteps,
    identity,
    initialRng: rng.state(),
    engine,
    samples: splitSamples(data.train),
  };
}

/** The step engine for `data` (whose sample counts may be given apart, see probeTrainingStep). */
export async function createEngine(
  model: LoadedModel,
  spec: TrainingSpec,
  data: PreparedData,
  samples: { train: number; validation: number | undefined },
  options: SetUpOptions,
): Promise<StepEngine> {
  const stepsPerRun = options.stepsPerRun ?? defaultStepsPerRun(model, data, spec.batch_size);
  if (!Number.isInteger(stepsPerRun) || stepsPerRun < 1) {
    throw new TrainError("INVALID_SPEC", `steps per run must be a positive integer; got ${stepsPerRun}`);
  }
  const threads = checkThreads(options.threads ?? 1);
  return StepEngine.create(model, spec, batchGeometry(data, spec, samples), stepsPerRun, threads);
}

/** The step of the first checkpoint after `step`: runs stop there, so it is taken exactly. */
export function nextCheckpointStep(setup: RunSetup, step: number): number {
  const every = setup.spec.checkpoint_every;
  return Math.min(setup.totalSteps, (Math.floor(step / every) + 1) * every);
}

/**
 * The default steps per run: as many as keep one run's arithmetic small (a run is also the
 * granularity of an abort), at most MAX_STEPS_PER_RUN.
 */
function defaultStepsPerRun(model: LoadedModel, data: PreparedData, batchSize: number): number {
  const split = data.train;
  const batchShapes = new Map([...split.inputs].map(([name, t]) => [name, [batchSize, ...t.sampleDims]]));
  const byWork = Math.floor(RUN_FLOPS / Math.max(1, estimateTrainingFlops(model, batchShapes)));
  return Math.max(1, Math.min(MAX_STEPS_PER_RUN, byWork));
}

// The training Loop takes its sample indices as int32 (step-engine.ts).
const MAX_SAMPLES = 2 ** 31 - 1;

/** Every sample of `split` as tensors [samples, ...] (views of its arrays). */
export function splitSamples(split: PreparedSplit): Batch {
  if (split.samples > MAX_SAMPLES) {
    throw new TrainError(
      "LIMIT_EXCEEDED",
      `the dataset has ${split.samples} samples in a split; at most ${MAX_SAMPLES} are supported`,
    );
  }
  const tensor = (t: PreparedSplit["target"]): Tensor => ({
    dtype: t.dtype,
    dims: [split.samples, ...t.sampleDims],
    data: t.data,
  });
  return {
    inputs: new Map([...split.inputs].map(([name, t]) => [name, tensor(t)])),
    target: tensor(split.target),
  };
}

/**
 * The dropout seed of 1-based step `step`: the first output of xoshiro128** seeded with
 * step * 2^32 + seed, halved into [0, 2^31). Stateless, so replays need nothing from the checkpoint.
 */
export function dropoutSeedFor(seed: number, step: number): number {
  return Xoshiro128.fromSeed(step * 0x100000000 + seed).nextU32() >>> 1;
}

export interface StepRecord {
  /** 1-based. */
  step: number;
  epoch: number;
  lr: number;
  loss: number;
  /** Samples in the step's batch. */
  samples: number;
  /** Correct predictions on the batch, before the update (classification losses). */
  correct: Correct | undefined;
}

export interface AdvancedRun {
  /** After the run's last step. */
  state: TrainingState;
  steps: StepRecord[];
}

/**
 * Steps the next run takes: up to the engine's steps per run, stopping at `remaining` and at the
 * epoch end; a partial batch (an epoch's last) runs alone, since the Loop's steps take equal batches.
 */
function runLength(setup: RunSetup, position: DataPosition, remaining: number): number {
  const consumed = position.batch === setup.batchesPerEpoch ? 0 : position.batch;
  const fullLeft = setup.batchesPerEpoch - consumed - (setup.partialLastBatch ? 1 : 0);
  return Math.max(1, Math.min(setup.engine.stepsPerRun, remaining, fullLeft));
}

/**
 * The next optimizer steps from `state` on the next batches of `order`, in one onnxruntime run
 * that stops at step `until` at the latest and at the epoch end: the single definition
 * of a step, shared by training, segment replay and the benchmark. A non-finite loss stops with
 * DIVERGED at the exact step.
 */
export async function advance(
  setup: RunSetup,
  state: TrainingState,
  order: BatchOrder,
  until: number,
): Promise<AdvancedRun> {
  const next = nextRun(setup, state, order, until);
  const outcome = await setup.engine.run(state, next.input);
  const diverged = outcome.losses.findIndex((loss) => !Number.isFinite(loss));
  if (diverged >= 0) {
    // A diagnosis that fails itself must not hide the divergence: the error then names the step only.
    const cause = await firstNonFinite(setup.engine, setup.model, state, next.input, diverged).catch(
      () => undefined,
    );
    throw divergedError(next.steps[diverged]!, outcome.losses[diverged]!, cause);
  }
  return finishRun(order, next, outcome);
}

/** What the next run of `advance` feeds: its batches (taken from `order`) and their step inputs. */
export interface NextRun {
  input: RunInput;
  batches: Array<{ epoch: number; indices: Uint32Array }>;
  steps: number[];
}

/** The next run's input from `state`, taking its batches from `order` (see advance). */
export function nextRun(setup: RunSetup, state: TrainingState, order: BatchOrder, until: number): NextRun {
  const { spec, engine, totalSteps } = setup;
  const count = runLength(setup, state.position, until - state.step);
  const batches = Array.from({ length: count }, () => order.next());
  const indices = batches.length === 1 ? batches[0]!.indices : concatenate(batches.map((b) => b.indices));
  const steps = batches.map((_, i) => state.step + 1 + i);
  const learningRates = steps.map((step) =>
    learningRateAt(spec.schedule, spec.optimizer.lr, step - 1, totalSteps),
  );
  const withDropout = engine.graph.inputs.dropoutSeed !== undefined;
  return {
    input: {
      samples: setup.samples,
      indices,
      learningRates,
      firstStep: steps[0]!,
      dropoutSeeds: steps.map((step) => (withDropout ? dropoutSeedFor(spec.seed, step) : 0)),
    },
    batches,
    steps,
  };
}

/** The state and step records after `next` ran with `outcome`; a non-finite loss stops with DIVERGED. */
export function finishRun(order: BatchOrder, next: NextRun, outcome: RunOutcome): AdvancedRun {
  const { input, batches, steps } = next;
  const diverged = outcome.losses.findIndex((loss) => !Number.isFinite(loss));
  if (diverged >= 0) throw divergedError(steps[diverged]!, outcome.losses[diverged]!);
  const judged = batchSizeOf(input) * elementCount(input.samples.target.dims.slice(1));
  return {
    state: { step: steps.at(-1)!, position: order.position(), params: outcome.params, state: outcome.state },
    steps: batches.map(({ epoch, indices }, i) => ({
      step: steps[i]!,
      epoch,
      lr: input.learningRates[i]!,
      loss: outcome.losses[i]!,
      samples: indices.length,
      correct: outcome.corrects && { correct: outcome.corrects[i]!, total: judged },
    })),
  };
}

function concatenate(parts: Uint32Array[]): Uint32Array {
  const all = new Uint32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}
