// Training jobs from the user's side: quoted, paid for by a reservation, listed, followed and
// cancelled, and once succeeded, their trained model and receipt. Taking a job to the network is
// the dispatcher's (job-dispatch.ts), following it there the verification driver's
// (verification.ts) and the node reports' (job-reports.ts); every ending is the settlement's
// (job-settlement.ts).
import type { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import type { Static } from "@sinclair/typebox";
import type { Database } from "../../prisma/client.ts";
import type { Prisma, TrainingJob } from "../../prisma/generated/client.ts";
import { modelWeightsAsSafetensors } from "../../protocol/model-weights.ts";
import type { Receipt } from "../../protocol/receipt.ts";
import { newId } from "../ids.ts";
import { pageOf } from "../schemas/common.ts";
import type { QuoteResponse } from "../schemas/training-jobs.ts";
import type { BlobStore } from "./blobs.ts";
import { DomainError, NotFoundError } from "./domain-errors.ts";
import type { JobEvents } from "./job-events.ts";
import type { InitFromRecord, InitFromRequest, StartingWeights } from "./job-init.ts";
import { type JobReads, type JobView, jobView } from "./job-reads.ts";
import { type JobSettlement, TERMINAL } from "./job-settlement.ts";
import type { Ledger } from "./ledger.ts";
import type { Quote, QuoteRequest, Quotes } from "./quotes.ts";

/** A quote as the API answers it: the SDK's type is its one definition. */
export type QuoteView = Static<typeof QuoteResponse>;

export class JobError extends DomainError<
  "price_cap_exceeded" | "job_not_cancellable" | "model_not_ready" | "receipt_not_ready"
> {}

function quoteView(quote: Quote, cap: number | undefined): QuoteView {
  return {
    object: "quote",
    model: quote.model.id,
    dataset: quote.dataset.id,
    verification: quote.verification,
    train_samples: quote.trainSamples,
    total_steps: quote.totalSteps,
    checkpoints: quote.checkpoints,
    flops_per_step: quote.flopsPerStep,
    total_flops: quote.flopsPerStep * quote.totalSteps,
    price: quote.price,
    audit: quote.audit,
    within_price_cap: cap === undefined || quote.price.total_cents <= cap,
  };
}

export interface JobsDeps {
  db: Database;
  /** Where trained models are (nodes upload them through the gateway). */
  blobs: BlobStore;
  quotes: Quotes;
  ledger: Ledger;
  events: JobEvents;
  reads: JobReads;
  settlement: JobSettlement;
  startingWeights: StartingWeights;
}

export class Jobs {
  constructor(private readonly deps: JobsDeps) {}

  async quote(organizationId: string, request: QuoteRequest): Promise<QuoteView> {
    return quoteView(await this.deps.quotes.quote(organizationId, request), request.max_price_cents);
  }

  /**
   * Reserves the price and records the job; escrow and queueing follow in JobDispatcher, which
   * takes it when its turn in the line comes (job-queue.ts) or ends it at `expires_after`.
   */
  async create(
    organizationId: string,
    request: QuoteRequest & { expires_after?: number; init_from?: InitFromRequest },
  ): Promise<JobView> {
    const quote = await this.deps.quotes.quote(organizationId, request);
    const total = quote.price.total_cents;
    if (request.max_price_cents !== undefined && total > request.max_price_cents) {
      throw new JobError(
        "price_cap_exceeded",
        `The job costs ${total} cents, more than max_price_cents ${request.max_price_cents}`,
        "max_price_cents",
      );
    }
    const initFrom =
      request.init_from &&
      (await this.deps.startingWeights.derive(organizationId, quote.model, request.init_from));
    const job = await this.deps.db.$transaction((tx) =>
      this.insert(tx, organizationId, quote, { ...request, initFrom: initFrom || undefined }),
    );
    return jobView(job, 0);
  }

  /**
   * Reserves the quote's price and records the job with its job.created event, in the caller's
   * transaction: a sweep records all its jobs in one, so that either all of them exist or none.
   */
  async insert(
    tx: Prisma.TransactionClient,
    organizationId: string,
    quote: Quote,
    request: { spec: unknown; expires_after?: number | undefined; initFrom?: InitFromRecord | undefined },
    sweepId: string | null = null,
  ): Promise<TrainingJob> {
    const jobId = newId("job");
    const total = quote.price.total_cents;
    await this.deps.ledger.reserve(organizationId, total, `job:${jobId}:reserve`, tx);
    const row = await tx.trainingJob.create({
      data: {
        id: jobId,
        organizationId,
        modelFileId: quote.model.id,
        datasetFileId: quote.dataset.id,
        spec: request.spec as Prisma.InputJsonValue,
        verificationLevel: quote.verification,
        quotedCents: BigInt(total),
        reservedCents: BigInt(total),
        platformFeeCents: BigInt(quote.price.platform_fee_cents),
        flopsPerStep: BigInt(Math.ceil(quote.flopsPerStep)),
        totalSteps: quote.totalSteps,
        graphNodes: quote.graphNodes,
        expiresAt:
          request.expires_after === undefined ? null : new Date(Date.now() + request.expires_after * 1000),
        sweepId,
        ...(request.initFrom ? { initFrom: { ...request.initFrom } } : {}),
      },
    });
    const { initFrom } = request;
    await this.deps.events.record(
      jobId,
      "job.created",
      {
        total_steps: quote.totalSteps,
        price_cents: total,
        verification: quote.verification,
        ...(initFrom ? { init_from: { job: initFrom.job, step: initFrom.step } } : {}),
      },
      tx,
    );
    return row;
  }

  async get(organizationId: string, id: string): Promise<JobView> {
    return this.deps.reads.get(organizationId, id);
  }

  async list(organizationId: string, limit: number, after?: string) {
    const rows = await this.deps.db.trainingJob.findMany({
      where: { organizationId, ...(after ? { id: { lt: after } } : {}) },
      orderBy: { id: "desc" },
      take: limit + 1,
    });
    return pageOf(
      rows.map((row) => jobView(row, 0)),
      limit,
    );
  }

  async cancel(organizationId: string, id: string): Promise<JobView> {
    const job = await this.row(organizationId, id);
    if (TERMINAL.has(job.status)) {
      throw new JobError(
        "job_not_cancellable",
        `Job '${id}' is ${job.status}; only queued or running jobs can be cancelled`,
      );
    }
    if (!(await this.deps.settlement.cancel(job))) {
      throw new JobError(
        "job_not_cancellable",
        job.status === "verifying"
          ? `Job '${id}' has finished training and is being verified; it can be cancelled only while its verification is disputed`
          : `Job '${id}' finished training while it was being cancelled and is being verified; it can no longer be cancelled`,
      );
    }
    return this.get(organizationId, id);
  }

  /** The trained model of a succeeded job, streamed from the blob store. */
  async trainedModel(organizationId: string, id: string): Promise<{ sha256: string; content: Readable }> {
    const job = await this.row(organizationId, id);
    if (job.status !== "succeeded" || job.resultSha256 === null) {
      throw new JobError(
        "model_not_ready",
        `Job '${id}' is ${job.status}; its model can be downloaded once it has succeeded`,
      );
    }
    return { sha256: job.resultSha256, content: await this.deps.blobs.read(job.resultSha256) };
  }

  /**
   * The trained weights as safetensors, keyed by the model's initializer names. Built from the
   * ONNX model the receipt attests, so a user who verified that model can rebuild the same file.
   */
  async trainedWeights(organizationId: string, id: string): Promise<Uint8Array> {
    const model = await this.trainedModel(organizationId, id);
    return modelWeightsAsSafetensors(await buffer(model.content));
  }

  /** The receipt kept when the job succeeded (api/services/receipts.ts issues it). */
  async receipt(organizationId: string, id: string): Promise<Receipt> {
    const job = await this.row(organizationId, id);
    if (job.receipt === null) {
      throw new JobError(
        "receipt_not_ready",
        `Job '${id}' is ${job.status}; a receipt is issued when a job succeeds`,
      );
    }
    return job.receipt as unknown as Receipt;
  }

  async checkpoints(organizationId: string, id: string) {
    const job = await this.row(organizationId, id);
    const rows = await this.deps.db.checkpoint.findMany({
      where: { task: { jobId: job.id } },
      orderBy: { step: "asc" },
    });
    return rows.map((row) => ({
      step: row.step,
      sha256: row.sha256,
      bytes: Number(row.sizeBytes),
      created_at: row.createdAt.toISOString(),
    }));
  }

  /**
   * The canonical bytes of the checkpoint at `step` (params, optimizer state, step, PRNG state):
   * the Merkle leaf the receipt commits to. Where a re-assigned attempt stored the same step again,
   * the last attempt's, which is the one its commitment names.
   */
  async checkpointContent(organizationId: string, id: string, step: number) {
    const job = await this.row(organizationId, id);
    const checkpoint = await this.deps.db.checkpoint.findFirst({
      where: { task: { jobId: job.id }, step },
      orderBy: { createdAt: "desc" },
    });
    if (!checkpoint) throw new NotFoundError("checkpoint", String(step), "step");
    return { sha256: checkpoint.sha256, content: await this.deps.blobs.read(checkpoint.sha256) };
  }

  /** The job's row if it belongs to the organization; anything else is 404. */
  async row(organizationId: string, id: string): Promise<TrainingJob> {
    const job = id.startsWith("job_")
      ? await this.deps.db.trainingJob.findFirst({ where: { id, organizationId } })
      : null;
    if (!job) throw new NotFoundError("training job", id, "id");
    return job;
  }
}
