// Prices a training job before it runs: the spec is validated against the training engine's
// schema and against the model and dataset it names, the steps are planned the way the trainer
// will run them, and the FLOPs of one step come from the model's training graph with every
// input dimension sized as the dataset and batch size will feed it: a dimension the model leaves
// symbolic costs what the data makes it cost, never 1.
//
// Everything after finding the files is a pure function of their content and the spec, so it is
// cached by content hash: a repeated quote costs one indexed query for the two files. The files
// are read with plain `pg` because a Prisma query costs several times more (docs/api.md). The
// checks use what upload inspection recorded; only the FLOP count and the one-step probe (the
// training graphs built and run once on zeros of the dataset's shapes, so a job that would fail
// in training is refused now, naming the node) need the model itself, and both run on the
// inspection worker (bounded in time and memory, off the event loop).
import { buffer } from "node:stream/consumers";
import type pg from "pg";
import { specHash } from "../../protocol/receipt.ts";
import type { DType } from "../../worker-runtime/onnx/index.ts";
import { batchesPerEpoch } from "../../worker-runtime/train/data/batches.ts";
import { convertsTo } from "../../worker-runtime/train/data/prepare.ts";
import { TrainError } from "../../worker-runtime/train/errors.ts";
import { parseTrainingSpec, type TrainingSpec } from "../../worker-runtime/train/spec.ts";
import type { BlobStore } from "./blobs.ts";
import { DomainError, NotFoundError } from "./domain-errors.ts";
import { ExpiringCache } from "./expiring-cache.ts";
import type { FileView } from "./files.ts";
import type { DatasetDetails, TensorSummary } from "./inspection/dataset.ts";
import type { Inspector } from "./inspection/inspector.ts";
import type { ModelDetails, ValueSummary } from "./inspection/model.ts";
import { FileRejectedError } from "./inspection/rejection.ts";
import {
  type AuditTerms,
  auditTerms,
  type Price,
  priceOf,
  segmentsOf,
  type VerificationLevel,
} from "./pricing.ts";

export interface QuoteRequest {
  model: string;
  dataset: string;
  spec: unknown;
  verification: VerificationLevel;
  max_price_cents?: number | undefined;
}

/** What a quote needs of a file; the rest of its view is not read on this path. */
export type QuotedFile = Pick<FileView, "id" | "purpose" | "sha256" | "details">;

/** The part of a quote that follows from the files' content and the spec alone. */
interface Plan {
  /** Shared by every quote the plan answers: not to be modified. */
  spec: Readonly<TrainingSpec>;
  trainSamples: number;
  totalSteps: number;
  checkpoints: number;
  flopsPerStep: number;
  /** Nodes of the one-step training graph at the 1-thread profile: the task's `graph_nodes`. */
  graphNodes: number;
}

export interface Quote extends Plan {
  model: QuotedFile;
  dataset: QuotedFile;
  verification: VerificationLevel;
  price: Price;
  audit: AuditTerms;
}

/** JSON Pointer "/optimizer/lr" → "spec.optimizer.lr", the API's param naming. */
function specParam(path: string): string {
  return ["spec", ...path.split("/").filter(Boolean)].join(".");
}

export class QuoteError extends DomainError<
  | "invalid_spec"
  | "wrong_file_purpose"
  | "model_not_priceable"
  | "model_not_trainable"
  | "pricing_limit_exceeded"
> {}

function invalidSpec(path: string, message: string): QuoteError {
  return new QuoteError(
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
      if (!first) throw new QuoteError("invalid_spec", error.message, "spec");
      const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : "";
      throw invalidSpec(first.path, `${first.message}${more}`);
    }
    throw error;
  }
}

// Entries are keyed by content hashes, so they never go stale: the bound is what matters, and
// the TTL only lets a long-lived process forget what nobody asks for any more.
const CACHE_ENTRIES = 1024;
const CACHE_TTL_MS = 60 * 60 * 1000;

// Files.get's rule in one query for both files: a live file of the organization, else 404.
const LIVE_FILES = `
  SELECT id, purpose, sha256, details FROM files
  WHERE id = ANY($1) AND organization_id = $2 AND deleted_at IS NULL`;

export class Quotes {
  /** Plans by model, dataset and spec hash: parsing and checking the spec is per-request work. */
  private readonly plans = new ExpiringCache<Plan>(CACHE_ENTRIES, CACHE_TTL_MS);
  /**
   * FLOPs per step by model hash and input shapes: loading the model is the expensive part. A
   * pending count is shared, so concurrent quotes of one model price it once.
   */
  private readonly flops = new ExpiringCache<Promise<number>>(CACHE_ENTRIES, CACHE_TTL_MS);

  constructor(
    private readonly blobs: BlobStore,
    private readonly pool: pg.Pool,
    private readonly inspector: Inspector,
  ) {}

  async quote(organizationId: string, request: QuoteRequest): Promise<Quote> {
    const { model, dataset } = await this.filesOf(organizationId, request);
    const key = `${model.sha256}:${dataset.sha256}:${specHash(request.spec)}`;
    let plan = this.plans.get(key);
    if (!plan) {
      plan = await this.plan(request.spec, model, dataset);
      this.plans.set(key, plan);
    }
    const price = priceOf(
      plan.flopsPerStep,
      plan.totalSteps,
      plan.spec.checkpoint_every,
      request.verification,
    );
    const audit = auditTerms(
      request.verification,
      segmentsOf(plan.totalSteps, plan.spec.checkpoint_every),
      price.audited_segments,
    );
    return { ...plan, model, dataset, verification: request.verification, price, audit };
  }

  private async plan(rawSpec: unknown, model: QuotedFile, dataset: QuotedFile): Promise<Plan> {
    const spec = parseSpec(rawSpec);
    const modelDetails = model.details as ModelDetails;
    const datasetDetails = dataset.details as DatasetDetails;
    const trainSamples = this.checkCompatible(spec, modelDetails, datasetDetails);
    const inputShapes = batchShapes(spec, modelDetails, datasetDetails);
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
    const flopsPerStep = await this.flopsPerStep(model.sha256, inputShapes);
    const graphNodes = await this.probe(model.sha256, spec, datasetDetails);
    return {
      spec,
      trainSamples,
      totalSteps,
      checkpoints: segmentsOf(totalSteps, spec.checkpoint_every) + 1,
      flopsPerStep,
      graphNodes,
    };
  }

  /**
   * One training step on zeros of the dataset's shapes, on the inspection worker: a model and
   * dataset that pass the checks above but would fail in training (a target the loss cannot
   * take, a node whose shapes clash) are refused here, naming the node. The plan cache keeps the
   * answer, so a repeated quote does not run it again. Resolves to the step graph's position count.
   */
  private async probe(sha256: string, spec: TrainingSpec, dataset: DatasetDetails): Promise<number> {
    const read = async () => buffer(await this.blobs.read(sha256));
    return this.inspector
      .probe(read, { sha256, spec, dataset: { format: dataset.format, tensors: dataset.tensors } })
      .catch((error: unknown) => {
        if (!(error instanceof FileRejectedError)) throw error;
        const code =
          error.code === "inspection_limit_exceeded" ? "pricing_limit_exceeded" : "model_not_trainable";
        throw new QuoteError(code, error.message, "dataset");
      });
  }

  /** Both files, each live, the organization's and of the purpose its field needs; model first. */
  private async filesOf(organizationId: string, request: QuoteRequest) {
    const { rows } = await this.pool.query<QuotedFile>(LIVE_FILES, [
      [request.model, request.dataset],
      organizationId,
    ]);
    const pick = (id: string, purpose: "model" | "dataset"): QuotedFile => {
      const file = rows.find((row) => row.id === id);
      if (!file) throw new NotFoundError("file", id, purpose);
      if (file.purpose !== purpose) {
        throw new QuoteError(
          "wrong_file_purpose",
          `File '${id}' was uploaded with purpose '${file.purpose}'; '${purpose}' needs a file with purpose '${purpose}'`,
          purpose,
        );
      }
      return file;
    };
    return { model: pick(request.model, "model"), dataset: pick(request.dataset, "dataset") };
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
      // Model input names are the uploader's: `in` would find "constructor" in any object.
      if (!Object.hasOwn(spec.inputs, input)) {
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

  private flopsPerStep(sha256: string, inputShapes: Array<[string, number[]]>): Promise<number> {
    const key = `${sha256}:${JSON.stringify(inputShapes)}`;
    const cached = this.flops.get(key);
    if (cached) return cached;
    const read = async () => buffer(await this.blobs.read(sha256));
    // The quote's refusals are 400s naming the field, whatever the worker found.
    const flops = this.inspector.price(read, { sha256, inputShapes }).catch((error: unknown) => {
      if (!(error instanceof FileRejectedError)) throw error;
      const code =
        error.code === "inspection_limit_exceeded" ? "pricing_limit_exceeded" : "model_not_priceable";
      throw new QuoteError(code, error.message, "model");
    });
    this.flops.set(key, flops);
    // A refusal follows from the content and is kept, so repeating the quote cannot make the
    // worker load the model again; a failure on our side is forgotten.
    flops.catch((error: unknown) => {
      if (!(error instanceof QuoteError) && this.flops.get(key) === flops) this.flops.evict(key);
    });
    return flops;
  }
}

const shapeText = (shape: readonly (number | string)[]) => `[${shape.join(", ")}]`;

/**
 * Each model input's shape as one training batch feeds it: the batch size on axis 0, the
 * dataset tensor's sizes on the others. A fixed size the tensor does not have, a symbolic name
 * given two sizes, a dtype the trainer cannot convert to, or a size of 0 or less is refused
 * here, by input and axis, rather than priced.
 */
function batchShapes(
  spec: TrainingSpec,
  model: ModelDetails,
  dataset: DatasetDetails,
): Array<[string, number[]]> {
  const tensors = new Map(dataset.tensors.map((t) => [t.name, t]));
  const symbols = new Map<string, { size: number; input: string }>();
  return model.inputs.map((input) => {
    const tensor = tensors.get(spec.inputs[input.name]!)!;
    const fail = (message: string) => invalidSpec(`/inputs/${input.name}`, message);
    const fits = `tensor '${tensor.name}' of shape ${shapeText(tensor.shape)} for model input '${input.name}' of shape ${shapeText(input.shape)}`;
    checkDtype(input, tensor, fail);
    if (tensor.shape.length !== input.shape.length) {
      throw fail(`${fits}: the ranks differ (${tensor.shape.length} and ${input.shape.length})`);
    }
    const shape = input.shape.map((dim, axis) => {
      const size = axis === 0 ? spec.batch_size : tensor.shape[axis]!;
      if (!(size >= 1)) throw fail(`${fits}: axis ${axis} has size ${size}; sizes must be 1 or more`);
      if (typeof dim === "number") {
        if (dim === size) return size;
        if (axis === 0) {
          throw fail(
            `model input '${input.name}' has a fixed batch of ${dim} but batch_size is ${size}; export with a dynamic batch axis`,
          );
        }
        throw fail(`${fits}: axis ${axis} is ${size} in the tensor, ${dim} in the model`);
      }
      const bound = symbols.get(dim);
      if (bound && bound.size !== size) {
        throw fail(
          `${fits}: dimension '${dim}' would be ${size} here but is ${bound.size} for input '${bound.input}'`,
        );
      }
      symbols.set(dim, { size, input: input.name });
      return size;
    });
    return [input.name, shape];
  });
}

function checkDtype(input: ValueSummary, tensor: TensorSummary, fail: (message: string) => Error): void {
  if (convertsTo(tensor.dtype as DType, input.dtype as DType)) return;
  throw fail(
    `tensor '${tensor.name}' holds ${tensor.dtype}, which does not convert to model input '${input.name}' of ${input.dtype}; ` +
      "accepted: the same dtype, or any dtype for a float or int64 input",
  );
}
