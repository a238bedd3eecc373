// Prices a training job before it runs: the spec is validated against the training engine's
// schema and against the model and dataset it names, the steps are planned the way the trainer
// will run them, and the FLOPs of one step come from the model's training graph.
import { buffer } from "node:stream/consumers";
import { estimateTrainingFlops, loadModel } from "../../worker-runtime/onnx/index.ts";
import { batchesPerEpoch } from "../../worker-runtime/train/data/batches.ts";
import { TrainError } from "../../worker-runtime/train/errors.ts";
import { parseTrainingSpec, type TrainingSpec } from "../../worker-runtime/train/spec.ts";
import { ApiError } from "../errors.ts";
import type { Files, FileView } from "./files.ts";
import type { DatasetDetails } from "./inspection/dataset.ts";
import type { ModelDetails } from "./inspection/model.ts";
import { type Price, priceOf, segmentsOf, type VerificationLevel } from "./pricing.ts";

export interface QuoteRequest {
  model: string;
  dataset: string;
  spec: unknown;
  verification: VerificationLevel;
  max_price_cents?: number | undefined;
}

export interface Quote {
  model: FileView;
  dataset: FileView;
  spec: TrainingSpec;
  verification: VerificationLevel;
  trainSamples: number;
  totalSteps: number;
  checkpoints: number;
  flopsPerStep: number;
  price: Price;
}

/** JSON Pointer "/optimizer/lr" → "spec.optimizer.lr", the API's param naming. */
function specParam(path: string): string {
  return ["spec", ...path.split("/").filter(Boolean)].join(".");
}

function invalidSpec(path: string, message: string): ApiError {
  return ApiError.badRequest(
    "invalid_spec",
    `Invalid training spec at ${specParam(path)}: ${message}`,
    specParam(path),
  );
}

function parseSpec(raw: unknown): TrainingSpec {
  try {
    return parseTrainingSpec(raw);
  } catch (error) {
    if (error instanceof TrainError && error.code === "INVALID_SPEC") {
      const first = error.issues[0];
      if (!first) throw ApiError.badRequest("invalid_spec", error.message, "spec");
      const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : "";
      throw invalidSpec(first.path, `${first.message}${more}`);
    }
    throw error;
  }
}

const FLOPS_CACHE_LIMIT = 256;

export class Quotes {
  /** FLOPs per step by model hash and batch size: loading a model is the expensive part. */
  private readonly flopsCache = new Map<string, number>();

  constructor(private readonly files: Files) {}

  async quote(organizationId: string, request: QuoteRequest): Promise<Quote> {
    const [model, dataset] = await Promise.all([
      this.file(organizationId, request.model, "model"),
      this.file(organizationId, request.dataset, "dataset"),
    ]);
    const spec = parseSpec(request.spec);
    const trainSamples = this.checkCompatible(
      spec,
      model.details as ModelDetails,
      dataset.details as DatasetDetails,
    );
    const perEpoch = batchesPerEpoch({
      samples: trainSamples,
      batchSize: spec.batch_size,
      shuffle: spec.shuffle,
      dropLast: spec.drop_last,
    });
    if (perEpoch === 0) {
      throw invalidSpec(
        "/batch_size",
        `drop_last leaves no batch: ${trainSamples} training samples are fewer than batch_size ${spec.batch_size}`,
      );
    }
    const byEpochs = spec.epochs === undefined ? Number.POSITIVE_INFINITY : spec.epochs * perEpoch;
    const totalSteps = Math.min(byEpochs, spec.max_steps ?? Number.POSITIVE_INFINITY);
    const flopsPerStep = await this.flopsPerStep(model, spec.batch_size);
    const price = priceOf(flopsPerStep, totalSteps, spec.checkpoint_every, request.verification);
    return {
      model,
      dataset,
      spec,
      verification: request.verification,
      trainSamples,
      totalSteps,
      checkpoints: segmentsOf(totalSteps, spec.checkpoint_every) + 1,
      flopsPerStep,
      price,
    };
  }

  private async file(organizationId: string, id: string, purpose: "model" | "dataset"): Promise<FileView> {
    let file: FileView;
    try {
      file = await this.files.get(organizationId, id);
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 404) throw ApiError.notFound("file", id, purpose);
      throw error;
    }
    if (file.purpose !== purpose) {
      throw ApiError.badRequest(
        "wrong_file_purpose",
        `File '${id}' was uploaded with purpose '${file.purpose}'; '${purpose}' needs a file with purpose '${purpose}'`,
        purpose,
      );
    }
    return file;
  }

  /** Names and sample counts, from what upload inspection recorded; returns the training samples. */
  private checkCompatible(spec: TrainingSpec, model: ModelDetails, dataset: DatasetDetails): number {
    const tensors = new Map(dataset.tensors.map((t) => [t.name, t]));
    const tensorNames = dataset.tensors.map((t) => t.name).join(", ");
    const modelInputs = new Set(model.inputs.map((i) => i.name));
    for (const [input, tensor] of Object.entries(spec.inputs)) {
      if (!modelInputs.has(input)) {
        throw invalidSpec(
          `/inputs/${input}`,
          `the model has no input '${input}'; its inputs are ${[...modelInputs].join(", ")}`,
        );
      }
      if (!tensors.has(tensor)) {
        throw invalidSpec(
          `/inputs/${input}`,
          `the dataset has no tensor '${tensor}'; its tensors are ${tensorNames}`,
        );
      }
    }
    for (const input of modelInputs) {
      if (!(input in spec.inputs)) {
        throw invalidSpec("/inputs", `model input '${input}' is not mapped to a dataset tensor`);
      }
    }
    if (!model.outputs.some((o) => o.name === spec.output)) {
      throw invalidSpec(
        "/output",
        `the model has no output '${spec.output}'; its outputs are ${model.outputs.map((o) => o.name).join(", ")}`,
      );
    }
    const target = tensors.get(spec.target);
    if (!target)
      throw invalidSpec(
        "/target",
        `the dataset has no tensor '${spec.target}'; its tensors are ${tensorNames}`,
      );
    const parameters = new Set(model.parameters.map((p) => p.name));
    for (const [i, name] of spec.frozen.entries()) {
      if (!parameters.has(name)) throw invalidSpec(`/frozen/${i}`, `the model has no parameter '${name}'`);
    }
    const samples = target.shape[0] ?? 0;
    for (const tensor of Object.values(spec.inputs)) {
      const rows = tensors.get(tensor)!.shape[0] ?? 0;
      if (rows !== samples) {
        throw invalidSpec(
          "/inputs",
          `tensor '${tensor}' has ${rows} samples but target '${spec.target}' has ${samples}`,
        );
      }
    }
    const validation = spec.validation;
    const held = validation && "fraction" in validation ? Math.round(samples * validation.fraction) : 0;
    if (samples - held < 1)
      throw invalidSpec("/validation", `no training samples are left out of ${samples}`);
    return samples - held;
  }

  private async flopsPerStep(model: FileView, batchSize: number): Promise<number> {
    const key = `${model.sha256}:${batchSize}`;
    const cached = this.flopsCache.get(key);
    if (cached !== undefined) return cached;
    const bytes = await buffer(await this.files.blobs.read(model.sha256));
    const flops = estimateTrainingFlops(loadModel(new Uint8Array(bytes)), batchSize);
    if (this.flopsCache.size >= FLOPS_CACHE_LIMIT)
      this.flopsCache.delete(this.flopsCache.keys().next().value!);
    this.flopsCache.set(key, flops);
    return flops;
  }
}
