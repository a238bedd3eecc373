// The training loop: the library API behind `veritrain train` and the node daemon.
// Every checkpoint_every steps (and at step 0 and the last step) the canonical checkpoint bytes
// are hashed into the run's Merkle leaves; with a checkpoint directory they are also written.
// A run resumed from any checkpoint is bit-identical to one that never stopped: parameters,
// optimizer state, step and data position are all in the checkpoint, and the learning rate and
// dropout seeds are pure functions of the step.
import { deliveredTensors } from "../../protocol/model-weights.ts";
import { inferenceNode } from "../autodiff/training-mode.ts";
import { type LoadedModel, loadModel, withInitializers } from "../onnx/index.ts";
import { countCorrect } from "./accuracy.ts";
import { decodeCheckpoint, encodeCheckpoint, sha256Hex, type TrainingState } from "./checkpoint.ts";
import {
  CheckpointDir,
  type CheckpointLeaf,
  type CheckpointRecord,
  checkpointsRoot,
  type RunIdentity,
} from "./checkpoint-dir.ts";
import { BatchOrder } from "./data/batches.ts";
import type { PreparedSplit } from "./data/prepare.ts";
import { TrainError } from "./errors.ts";
import { type EpochMetric, EpochTally, type StepMetric, type TrainMetrics } from "./metrics.ts";
import { currentProfile, type DeterminismProfile, profileDifferences } from "./profile.ts";
import {
  advance,
  type DatasetSource,
  nextCheckpointStep,
  type RunSetup,
  runOptions,
  setUpProbedRun,
  setUpRun,
  splitSamples,
} from "./run-setup.ts";
import { type ModelState, type StepEngine, takeSamples } from "./step-engine.ts";
import { apart } from "./work-cpu.ts";

export type TrainEvent =
  | { type: "start"; startStep: number; totalSteps: number; batchesPerEpoch: number }
  | {
      type: "step";
      step: number;
      totalSteps: number;
      epoch: number;
      loss: number;
      lr: number;
      stepsPerSecond: number;
    }
  | { type: "epoch"; metrics: EpochMetric }
  | { type: "checkpoint"; record: CheckpointLeaf | CheckpointRecord };

export interface TrainOptions {
  /** The ONNX model as uploaded (an inference graph). */
  model: Uint8Array;
  dataset: DatasetSource;
  /** The training spec as parsed JSON; validated here. */
  spec: unknown;
  /** Where to write checkpoints and manifest.json; without it hashes are still computed. */
  checkpointDir?: string;
  /** Continue from a checkpoint directory (its latest checkpoint, or `step`). */
  resume?: { dir: string; step?: number };
  onEvent?: (event: TrainEvent) => void;
  /**
   * Checked between onnxruntime runs (a run takes up to `stepsPerRun` steps and never passes a
   * checkpoint); the run then stops with TrainError ABORTED, keeping written checkpoints.
   */
  signal?: AbortSignal;
  /** Optimizer steps per onnxruntime run (see SetUpOptions): speed only, the bytes do not depend on it. */
  stepsPerRun?: number;
  /** Intra-op threads (default 1), recorded in the determinism profile; replays use the same. */
  threads?: number;
}

export interface TrainResult {
  /** The original graph with the trained weights (and running statistics) as initializers. */
  model: Uint8Array;
  metrics: TrainMetrics;
  /** Every checkpoint of the run in step order: the Merkle leaves. */
  checkpoints: CheckpointLeaf[];
  merkleRoot: string;
  /** SHA-256 of the final checkpoint, whose parameters are the delivered weights. */
  finalSha256: string;
  identity: RunIdentity;
  profile: DeterminismProfile;
}

async function evaluate(engine: StepEngine, setup: RunSetup, current: ModelState, split: PreparedSplit) {
  let lossSum = 0;
  let correct = 0;
  let judged = 0;
  const size = setup.spec.batch_size;
  const samples = splitSamples(split);
  for (let start = 0; start < split.samples; start += size) {
    const indices = Array.from({ length: Math.min(size, split.samples - start) }, (_, i) => start + i);
    const batch = takeSamples(samples, indices);
    const result = await engine.evaluate(current, batch);
    lossSum += result.loss * indices.length;
    const counted = countCorrect(setup.spec.loss.type, result.output, batch.target);
    if (counted) {
      correct += counted.correct;
      judged += counted.total;
    }
  }
  return { loss: lossSum / split.samples, accuracy: judged > 0 ? correct / judged : null };
}

function initialState(setup: RunSetup): TrainingState {
  return {
    step: 0,
    position: { epoch: 0, batch: 0, rngAtEpochStart: setup.initialRng },
    ...setup.engine.initialState(),
  };
}

/**
 * The canonical bytes of a run's step-0 checkpoint (its leaf 0): a pure function of the model,
 * the dataset and the spec, so the platform computes it instead of taking a worker's word.
 */
export async function initialCheckpoint(
  model: Uint8Array,
  dataset: DatasetSource,
  spec: unknown,
): Promise<Uint8Array> {
  const setup = await setUpRun(model, dataset, spec, { stepsPerRun: 1 });
  try {
    const state = initialState(setup);
    return encodeCheckpoint({ ...state, ...setup.engine.canonical(state) });
  } finally {
    await setup.engine.release();
  }
}

/** The model a run delivers once it reaches `checkpoint`: the user's model with its weights. */
export function deliveredModel(model: Uint8Array, checkpoint: Uint8Array): Uint8Array {
  return trainedModel(loadModel(model), decodeCheckpoint(checkpoint));
}

/**
 * The user's model with the trained weights and running statistics, ready for inference: a
 * training-mode export's Dropout and BatchNormalization nodes in inference mode, as evaluation
 * ran them (a BatchNormalization left in training mode would normalize by each batch's statistics).
 */
function trainedModel(model: LoadedModel, state: ModelState): Uint8Array {
  const tensors = deliveredTensors(state, (name) => model.initializers.has(name));
  return withInitializers(model, tensors, inferenceNode);
}

function startingPoint(setup: RunSetup, resume: TrainOptions["resume"], profile: DeterminismProfile) {
  if (!resume) return { state: initialState(setup), source: undefined };
  const source = CheckpointDir.open(resume.dir);
  const recorded = source.manifest;
  const mismatched = (["model_sha256", "dataset_sha256", "spec_sha256"] as const).filter(
    (key) => recorded[key] !== setup.identity[key],
  );
  if (mismatched.length > 0) {
    throw new TrainError(
      "CHECKPOINT_MISMATCH",
      `${resume.dir} belongs to another run: ${mismatched.map((k) => k.replace("_sha256", "")).join(", ")} differ`,
    );
  }
  const differences = profileDifferences(recorded.determinism_profile, profile);
  if (differences.length > 0) {
    throw new TrainError(
      "CHECKPOINT_MISMATCH",
      "resuming under another determinism profile would not be bit-identical:",
      differences.map((d) => ({ path: "determinism_profile", message: d })),
    );
  }
  const { state, record } = source.read(resume.step);
  return {
    state: { ...state, ...setup.engine.fromCanonical(state) },
    source: { dir: source, step: record.step, tally: record.tally },
  };
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  // A model whose step fails is refused here, naming the node, not after some checkpoints.
  const setup = await setUpProbedRun(options.model, options.dataset, options.spec, runOptions(options));
  const { engine, totalSteps, data } = setup;
  try {
    const profile = currentProfile(engine.threads);
    const start = startingPoint(setup, options.resume, profile);
    const dir =
      options.checkpointDir === undefined
        ? undefined
        : CheckpointDir.create(
            options.checkpointDir,
            setup.identity,
            profile,
            start.source && { source: start.source.dir, step: start.source.step },
          );
    // The leaves and metrics so far: carried into the new directory, or those of the resumed run.
    const resumed = start.source;
    const inherited = resumed?.dir.manifest.checkpoints.filter((r) => r.step <= resumed.step) ?? [];
    const records: CheckpointLeaf[] = dir ? [...dir.manifest.checkpoints] : inherited;
    const history = resumed ? resumed.dir.history(resumed.step) : { steps: [], epochs: [] };
    const stepMetrics: StepMetric[] = history.steps;
    const epochMetrics: EpochMetric[] = history.epochs;
    let savedSteps = stepMetrics.length;
    let tally = resumed?.tally ? new EpochTally(resumed.tally) : undefined;
    const emit = options.onEvent ?? (() => {});
    const checkpoint = (state: TrainingState) => {
      const final = state.step === totalSteps;
      const bytes = encodeCheckpoint({ ...state, ...engine.canonical(state) });
      const progress = { newSteps: stepMetrics.slice(savedSteps), epochs: epochMetrics };
      savedSteps = stepMetrics.length;
      const record = dir?.add(state.step, bytes, final, tally?.snapshot() ?? null, progress) ?? {
        step: state.step,
        sha256: sha256Hex(bytes),
      };
      if (records.at(-1)?.step !== state.step) records.push(record);
      emit({ type: "checkpoint", record });
    };

    let state = start.state;
    const startStep = state.step;
    const order = new BatchOrder(setup.plan, state.position);
    emit({ type: "start", startStep, totalSteps, batchesPerEpoch: setup.batchesPerEpoch });
    if (!resumed) checkpoint(state);
    const began = performance.now();
    const rate = () => (state.step - startStep) / Math.max((performance.now() - began) / 1000, 1e-9);

    while (state.step < totalSteps) {
      if (options.signal?.aborted) {
        throw new TrainError("ABORTED", `training was stopped after step ${state.step}`, [], state.step);
      }
      const nextCheckpoint = nextCheckpointStep(setup, state.step);
      const advanced = await advance(setup, state, order, nextCheckpoint);
      state = advanced.state;
      for (const { step, epoch, loss, lr, samples, correct } of advanced.steps) {
        tally ??= new EpochTally(epoch);
        tally.add(loss, samples, correct);
        stepMetrics.push({ step, loss, lr });
        emit({ type: "step", step, totalSteps, epoch, loss, lr, stepsPerSecond: rate() });
      }
      const step = state.step;
      // Close the epoch before checkpointing, so a checkpoint never holds a finished epoch's sums.
      if (state.position.batch === setup.batchesPerEpoch || step === totalSteps) {
        // Not a step, and no verifier's replay evaluates: left out of the run's measured CPU.
        const split = data.validation;
        const validation = split && (await apart(() => evaluate(engine, setup, state, split)));
        const metrics = tally!.finish(step, validation);
        epochMetrics.push(metrics);
        emit({ type: "epoch", metrics });
        tally = undefined;
      }
      if (step === nextCheckpoint) checkpoint(state);
    }
    const seconds = (performance.now() - began) / 1000;
    // Building the delivered model is once per run, like the set-up: left out of its measured CPU.
    const model = apart(() => trainedModel(setup.model, engine.canonical(state)));
    return {
      model,
      metrics: {
        total_steps: totalSteps,
        start_step: startStep,
        duration_seconds: seconds,
        steps_per_second: rate(),
        steps: stepMetrics,
        epochs: epochMetrics,
      },
      checkpoints: records,
      merkleRoot: checkpointsRoot(records),
      finalSha256: records.at(-1)!.sha256,
      identity: setup.identity,
      profile,
    };
  } finally {
    await engine.release();
  }
}
