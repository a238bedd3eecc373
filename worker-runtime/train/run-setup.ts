// Everything a training run and a segment replay share: the spec parsed, the model loaded and
// checked, the data checked against it and converted, the step engine built. A verifier that
// replays a segment goes through exactly this, so it sees exactly the worker's graph and batches.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { type LoadedModel, loadModel, type Tensor, unsupportedOperators } from "../onnx/index.ts";
import type { TrainingState } from "./checkpoint.ts";
import type { RunIdentity } from "./checkpoint-dir.ts";
import { type BatchOrder, type BatchPlan, batchesPerEpoch } from "./data/batches.ts";
import { type Dataset, readDataset } from "./data/dataset.ts";
import { gatherSamples, type PreparedData, type PreparedSplit, prepareData } from "./data/prepare.ts";
import { Xoshiro128 } from "./data/prng.ts";
import { TrainError } from "./errors.ts";
import { learningRateAt } from "./schedule.ts";
import { parseTrainingSpec, type TrainingSpec } from "./spec.ts";
import { type Batch, StepEngine } from "./step-engine.ts";

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
  totalSteps: number;
  identity: RunIdentity;
  /** Generator state after the validation split: where epoch 0 starts. */
  initialRng: Uint32Array;
  engine: StepEngine;
}

const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

function checkModel(model: LoadedModel, spec: TrainingSpec): void {
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

export async function setUpRun(
  modelBytes: Uint8Array,
  source: DatasetSource,
  rawSpec: unknown,
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
  const partialBatches = plan.samples % plan.batchSize !== 0 && !plan.dropLast;
  const engine = await StepEngine.create(
    model,
    spec,
    partialBatches ? "dynamic" : spec.batch_size,
    data.validation !== undefined,
  );
  const totalSteps = totalStepsOf(spec, perEpoch);
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
    totalSteps,
    identity,
    initialRng: rng.state(),
    engine,
  };
}

/** The batch of `split` at `indices`, as the step graph is fed it. */
export function assembleBatch(split: PreparedSplit, indices: ArrayLike<number>): Batch {
  const tensor = (t: PreparedSplit["target"]): Tensor => ({
    dtype: t.dtype,
    dims: [indices.length, ...t.sampleDims],
    data: gatherSamples(t, indices),
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

export interface AdvancedStep {
  state: TrainingState;
  epoch: number;
  batch: Batch;
  lr: number;
  loss: number;
  /** The model output on this batch before the update (for training accuracy). */
  output: Tensor;
}

/**
 * One optimizer step from `state` on the next batch of `order`: the single definition of a
 * step, shared by training and segment replay. A non-finite loss stops with DIVERGED.
 */
export async function advance(
  setup: RunSetup,
  state: TrainingState,
  order: BatchOrder,
): Promise<AdvancedStep> {
  const { spec, engine, totalSteps } = setup;
  const { epoch, indices } = order.next();
  const batch = assembleBatch(setup.data.train, indices);
  const step = state.step + 1;
  const lr = learningRateAt(spec.schedule, spec.optimizer.lr, state.step, totalSteps);
  const dropoutSeed = engine.graph.inputs.dropoutSeed === undefined ? 0 : dropoutSeedFor(spec.seed, step);
  const outcome = await engine.step(state, batch, lr, step, dropoutSeed);
  if (!Number.isFinite(outcome.loss)) {
    throw new TrainError(
      "DIVERGED",
      `the loss became ${outcome.loss} at step ${step}; lower the learning rate or set clip_grad_norm`,
      [],
      step,
    );
  }
  return {
    state: { step, position: order.position(), params: outcome.params, state: outcome.state },
    epoch,
    batch,
    lr,
    loss: outcome.loss,
    output: outcome.output,
  };
}
