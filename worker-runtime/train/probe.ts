// The acceptance check the API runs at upload or quote time, before a job exists: everything
// `veritrain train` checks before its first step, from the dataset's tensor shapes alone. It
// builds every graph the run would compile and runs each once on zeros of the data's shapes, so
// a model accepted here does not fail after acceptance.

import { type LoadedModel, loadModel, OnnxError } from "../onnx/index.ts";
import { batchesPerEpoch } from "./data/batches.ts";
import { prepareData } from "./data/prepare.ts";
import { Xoshiro128 } from "./data/prng.ts";
import { checkValueRanges } from "./data/range-checks.ts";
import { type DatasetShapes, oneSampleDataset, sampleCounts } from "./data/shape-dataset.ts";
import { TrainError } from "./errors.ts";
import { checkModel, createEngine } from "./run-setup.ts";
import { parseTrainingSpec } from "./spec.ts";
import { graphFailure } from "./step-engine.ts";

export type { DatasetShapes, TensorShape, ValueRange } from "./data/shape-dataset.ts";

function load(bytes: Uint8Array): LoadedModel {
  try {
    return loadModel(bytes);
  } catch (error) {
    if (error instanceof OnnxError) throw new TrainError("UNSUPPORTED_MODEL", error.message);
    throw error;
  }
}

/**
 * Checks that `veritrain train` would accept the model, spec and dataset, and that every graph of
 * the run builds and runs one step: the spec is validated, the model's operators checked, the
 * dataset's shapes and dtypes checked against the model, then every training graph (one step of
 * each batch size the epochs need, two steps of the loop over full batches) and evaluation graph
 * runs once on zeros of those shapes. Throws a TrainError (`code`, `issues`; a failing step names
 * the model node) on the first problem; resolves when training would start.
 */
export async function probeTrainingStep(
  modelBytes: Uint8Array,
  rawSpec: unknown,
  dataset: DatasetShapes,
): Promise<void> {
  const spec = parseTrainingSpec(rawSpec);
  const model = load(modelBytes);
  checkModel(model, spec);
  const samples = sampleCounts(spec, dataset);
  // One sample per tensor: the fraction split is taken from the real counts above instead.
  const checked =
    spec.validation && "fraction" in spec.validation ? { ...spec, validation: undefined } : spec;
  const data = prepareData(model, oneSampleDataset(dataset), checked, Xoshiro128.fromSeed(spec.seed));
  checkValueRanges(model, spec, dataset);
  // A validation fraction holds samples shaped like the training ones.
  const split =
    samples.validation === undefined ? data : { ...data, validation: data.validation ?? data.train };
  const plan = {
    samples: samples.train,
    batchSize: spec.batch_size,
    shuffle: spec.shuffle,
    dropLast: spec.drop_last,
  };
  if (batchesPerEpoch(plan) === 0) {
    throw new TrainError(
      "INVALID_SPEC",
      `batch_size ${spec.batch_size} leaves no batch of the ${samples.train} training samples`,
    );
  }
  let engine: Awaited<ReturnType<typeof createEngine>> | undefined;
  try {
    engine = await createEngine(model, spec, split, samples, {});
    await engine.probe();
  } catch (error) {
    throw graphFailure(error, model, "the training step");
  } finally {
    await engine?.release();
  }
}
