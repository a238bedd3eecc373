// Training jobs from the user's side: quoted, paid for by a reservation, escrowed on chain,
// queued for the network, followed through training and verification, and settled: the user is
// charged what the network was paid (plus the platform fee on it) and the rest is released.
// Every transition is a row update guarded by the state it leaves, so a retry, a duplicate report
// or a second API process cannot apply one twice.
import type { ChainBridge } from "../../chain-bridge/bridge.ts";
import { BridgeError } from "../../chain-bridge/errors.ts";
import type { Database } from "../../prisma/client.ts";
import type { JobStatus, Prisma, TrainingJob } from "../../prisma/generated/client.ts";
import type { TaskProducer } from "../../queue/producers.ts";
import { checkpointRoot, specHash } from "../../sdk/src/receipt.ts";
import { ApiError } from "../errors.ts";
import { newId } from "../ids.ts";
import { pageOf } from "../schemas/common.ts";
import type { JobEvents } from "./job-events.ts";
import type {
  AuditVerdict,
  CheckpointReport,
  JobLifecycle,
  TrainingProgress,
  TrainingResult,
} from "./job-lifecycle.ts";
import type { Ledger } from "./ledger.ts";
import type { Quote, QuoteRequest, Quotes } from "./quotes.ts";

export interface JobView {
  id: string;
  object: "training_job";
  status: JobStatus;
  failure_reason: string | null;
  model: string;
  dataset: string;
  spec: unknown;
  verification: string;
  total_steps: number;
  steps_completed: number;
  price: { quoted_cents: number; reserved_cents: number; charged_cents: number | null };
  result: { model_sha256: string | null };
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

export interface QuoteView {
  object: "quote";
  model: string;
  dataset: string;
  verification: string;
  train_samples: number;
  total_steps: number;
  checkpoints: number;
  flops_per_step: number;
  total_flops: number;
  price: Quote["price"];
  within_price_cap: boolean;
}

const TERMINAL: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled"]);

/** The task of a job's first attempt; deterministic so dispatching again finds the same escrow. */
export function taskIdOf(jobId: string): string {
  return `task_${jobId.slice("job_".length)}`;
}

function view(job: TrainingJob, stepsCompleted: number): JobView {
  return {
    id: job.id,
    object: "training_job",
    status: job.status,
    failure_reason: job.failureReason,
    model: job.modelFileId,
    dataset: job.datasetFileId,
    spec: job.spec,
    verification: job.verificationLevel,
    total_steps: job.totalSteps,
    steps_completed: stepsCompleted,
    price: {
      quoted_cents: Number(job.quotedCents),
      reserved_cents: Number(job.reservedCents),
      charged_cents: job.chargedCents === null ? null : Number(job.chargedCents),
    },
    result: { model_sha256: job.resultSha256 },
    created_at: job.createdAt.toISOString(),
    updated_at: job.updatedAt.toISOString(),
    finished_at: job.finishedAt?.toISOString() ?? null,
  };
}

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
    within_price_cap: cap === undefined || quote.price.total_cents <= cap,
  };
}

export interface JobsDeps {
  db: Database;
  quotes: Quotes;
  ledger: Ledger;
  events: JobEvents;
  /** Absent in a process that only answers reads (and when generating the OpenAPI document). */
  chain?: ChainBridge;
  producer?: TaskProducer;
}

export class Jobs implements JobLifecycle {
  constructor(private readonly deps: JobsDeps) {}

  async quote(organizationId: string, request: QuoteRequest): Promise<QuoteView> {
    return quoteView(await this.deps.quotes.quote(organizationId, request), request.max_price_cents);
  }

  /** Reserves the price and records the job; escrow and queueing follow in `dispatch`. */
  async create(organizationId: string, request: QuoteRequest): Promise<JobView> {
    const quote = await this.deps.quotes.quote(organizationId, request);
    const total = quote.price.total_cents;
    if (request.max_price_cents !== undefined && total > request.max_price_cents) {
      throw ApiError.badRequest(
        "price_cap_exceeded",
        `The job costs ${total} cents, more than max_price_cents ${request.max_price_cents}`,
        "max_price_cents",
      );
    }
    const jobId = newId("job");
    const job = await this.deps.db.$transaction(async (tx) => {
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
          flopsPerStep: BigInt(Math.ceil(quote.flopsPerStep)),
          totalSteps: quote.totalSteps,
        },
      });
      await this.deps.events.record(
        jobId,
        "job.created",
        { total_steps: quote.totalSteps, price_cents: total, verification: quote.verification },
        tx,
      );
      return row;
    });
    return view(job, 0);
  }

  async get(organizationId: string, id: string): Promise<JobView> {
    const job = await this.row(organizationId, id);
    return view(job, await this.stepsCompleted(job.id));
  }

  async list(organizationId: string, limit: number, after?: string) {
    const rows = await this.deps.db.trainingJob.findMany({
      where: { organizationId, ...(after ? { id: { lt: after } } : {}) },
      orderBy: { id: "desc" },
      take: limit + 1,
    });
    return pageOf(
      rows.map((row) => view(row, 0)),
      limit,
    );
  }

  async cancel(organizationId: string, id: string): Promise<JobView> {
    const job = await this.row(organizationId, id);
    if (TERMINAL.has(job.status)) {
      throw new ApiError(
        409,
        "invalid_request_error",
        "job_not_cancellable",
        `Job '${id}' is ${job.status}; only queued or running jobs can be cancelled`,
      );
    }
    if (job.status === "verifying") {
      throw new ApiError(
        409,
        "invalid_request_error",
        "job_not_cancellable",
        `Job '${id}' has finished training and is being verified; it can no longer be cancelled`,
      );
    }
    const chain = this.deps.chain;
    const task = await this.deps.db.task.findUnique({ where: { id: taskIdOf(job.id) } });
    if (chain && task?.chainTaskId) await chain.cancel(task.id);
    await this.finish(job, "cancelled", null, 0);
    return this.get(organizationId, id);
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

  /** The job's row if it belongs to the organization; anything else is 404. */
  async row(organizationId: string, id: string): Promise<TrainingJob> {
    const job = id.startsWith("job_")
      ? await this.deps.db.trainingJob.findFirst({ where: { id, organizationId } })
      : null;
    if (!job) throw ApiError.notFound("training job", id, "id");
    return job;
  }

  /** Dispatches without making the caller wait; a failure is retried by `resumePending`. */
  dispatchLater(jobId: string, onError: (error: unknown) => void): void {
    if (!this.deps.chain || !this.deps.producer) return;
    this.dispatch(jobId).catch(onError);
  }

  /** Dispatches every job still queued without a worker: after a restart or a failed dispatch. */
  async resumePending(): Promise<number> {
    const queued = await this.deps.db.trainingJob.findMany({
      where: { status: "queued" },
      select: { id: true },
    });
    for (const { id } of queued) await this.dispatch(id);
    return queued.length;
  }

  /**
   * Opens the escrow and queues the training. Safe to call again at any time: the escrow is
   * idempotent per task and the queue per task id. A chain that refuses the escrow fails the
   * job as the network's fault, which releases every reserved cent.
   */
  async dispatch(jobId: string): Promise<void> {
    const { chain, producer, db } = this.deps;
    if (!chain || !producer) throw new Error("dispatch needs the chain bridge and the task queue");
    const job = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
    if (job.status !== "queued") return;
    const model = await db.file.findUniqueOrThrow({ where: { id: job.modelFileId } });
    const dataset = await db.file.findUniqueOrThrow({ where: { id: job.datasetFileId } });
    const spec = job.spec as Record<string, unknown>;
    const checkpointEvery = Number(spec.checkpoint_every ?? 100);
    const taskId = taskIdOf(job.id);
    let escrow: Awaited<ReturnType<ChainBridge["openEscrow"]>>;
    try {
      escrow = await chain.openEscrow({
        taskId,
        jobId,
        usdCents: job.reservedCents,
        spec: {
          modelSha256: model.sha256,
          datasetSha256: dataset.sha256,
          specSha256: specHash(job.spec),
          profile: null,
          maxSteps: BigInt(job.totalSteps),
          checkpointInterval: BigInt(Math.min(checkpointEvery, job.totalSteps)),
          graphNodes: 1,
          verificationLevel: 1,
        },
      });
    } catch (error) {
      if (error instanceof BridgeError && error.code === "DISPATCH_FAILED") {
        await this.finish(job, "failed", `the network could not take the job: ${error.message}`, 0);
        return;
      }
      throw error;
    }
    await producer.enqueueTraining({
      taskId,
      jobId,
      modelSha256: model.sha256,
      datasetSha256: dataset.sha256,
      datasetFileName: dataset.filename,
      spec: job.spec,
      totalSteps: job.totalSteps,
      checkpointEvery,
      resumeFrom: null,
    });
    await this.deps.events.emit(jobId, "job.dispatched", {
      worker: escrow.worker,
      chain_task_id: escrow.chainTaskId.toString(),
      block_number: escrow.blockNumber,
    });
  }

  async taskStarted(taskId: string, workerAddress: string): Promise<void> {
    const jobId = await this.jobOfTask(taskId);
    const { count } = await this.deps.db.trainingJob.updateMany({
      where: { id: jobId, status: "queued" },
      data: { status: "running" },
    });
    if (count > 0) await this.deps.events.emit(jobId, "training.started", { worker: workerAddress });
  }

  async progress(taskId: string, progress: TrainingProgress): Promise<void> {
    await this.deps.events.emit(await this.jobOfTask(taskId), "training.progress", {
      step: progress.step,
      total_steps: progress.totalSteps,
      loss: progress.loss,
      learning_rate: progress.learningRate,
      steps_per_second: progress.stepsPerSecond,
    });
  }

  async checkpointStored(taskId: string, checkpoint: CheckpointReport): Promise<void> {
    const jobId = await this.jobOfTask(taskId);
    await this.deps.db.checkpoint.upsert({
      where: { taskId_step: { taskId, step: checkpoint.step } },
      create: {
        taskId,
        step: checkpoint.step,
        sha256: checkpoint.sha256,
        sizeBytes: BigInt(checkpoint.sizeBytes),
      },
      update: {},
    });
    await this.deps.events.emit(jobId, "checkpoint.stored", {
      step: checkpoint.step,
      sha256: checkpoint.sha256,
    });
  }

  async trainingCompleted(taskId: string, result: TrainingResult): Promise<void> {
    const jobId = await this.jobOfTask(taskId);
    const root = checkpointRoot(result.leaves);
    if (root !== result.checkpointRoot) {
      await this.taskFailed(
        taskId,
        `the worker's checkpoint root ${result.checkpointRoot} does not match its leaves`,
        true,
      );
      return;
    }
    const { count } = await this.deps.db.trainingJob.updateMany({
      where: { id: jobId, status: { in: ["queued", "running"] } },
      data: { status: "verifying", resultSha256: result.modelSha256 },
    });
    if (count > 0) {
      await this.deps.events.emit(jobId, "training.completed", {
        model_sha256: result.modelSha256,
        checkpoint_root: root,
        checkpoints: result.leaves.length,
        metrics: result.metrics,
      });
    }
  }

  async auditCompleted(taskId: string, verdict: AuditVerdict): Promise<void> {
    await this.deps.events.emit(await this.jobOfTask(taskId), "verification.verdict", {
      verifier: verdict.verifierAddress,
      from_step: verdict.fromStep,
      to_step: verdict.toStep,
      agrees: verdict.agrees,
    });
  }

  async taskFailed(taskId: string, reason: string, networkFault: boolean): Promise<void> {
    const job = await this.deps.db.trainingJob.findUniqueOrThrow({
      where: { id: await this.jobOfTask(taskId) },
    });
    if (TERMINAL.has(job.status)) return;
    const charge = networkFault ? 0 : await this.costOfStepsDone(job);
    await this.finish(job, "failed", reason, charge);
  }

  /**
   * Ends a job once: the status changes only from a live state, and in the same transaction the
   * reservation is settled (charge `chargeCents`, release the rest) and the event recorded.
   */
  async finish(
    job: TrainingJob,
    status: "succeeded" | "failed" | "cancelled",
    reason: string | null,
    chargeCents: number,
  ) {
    const event = await this.deps.db.$transaction(async (tx) => {
      const { count } = await tx.trainingJob.updateMany({
        where: { id: job.id, status: { notIn: [...TERMINAL] } },
        data: { status, failureReason: reason, chargedCents: BigInt(chargeCents), finishedAt: new Date() },
      });
      if (count === 0) return null;
      const reserved = Number(job.reservedCents);
      await this.deps.ledger.charge(job.organizationId, reserved, chargeCents, `job:${job.id}:settle`, tx);
      return this.deps.events.record(
        job.id,
        `job.${status}`,
        { reason, charged_cents: chargeCents, released_cents: reserved - chargeCents },
        tx,
      );
    });
    if (event) await this.deps.events.publish(job.id, event);
  }

  private async stepsCompleted(jobId: string): Promise<number> {
    const last = await this.deps.db.checkpoint.findFirst({
      where: { task: { jobId } },
      orderBy: { step: "desc" },
      select: { step: true },
    });
    return last?.step ?? 0;
  }

  /** The share of the quoted price that the steps already trained account for. */
  private async costOfStepsDone(job: TrainingJob): Promise<number> {
    const done = await this.stepsCompleted(job.id);
    const share = Math.min(1, done / Math.max(1, job.totalSteps));
    return Math.min(Number(job.reservedCents), Math.ceil(Number(job.quotedCents) * share));
  }

  private async jobOfTask(taskId: string): Promise<string> {
    const task = await this.deps.db.task.findUnique({ where: { id: taskId }, select: { jobId: true } });
    if (!task) throw ApiError.notFound("task", taskId, "task_id");
    return task.jobId;
  }
}
