// Training jobs from the user's side: quoted, paid for by a reservation, escrowed on chain,
// queued for the network, followed through training and verification, and settled: the user is
// charged what the network was paid (plus the platform fee on it) and the rest is released.
// Every transition is a row update guarded by the state it leaves, so a retry, a duplicate report
// or a second API process cannot apply one twice.
import type { Readable } from "node:stream";
import type { Static } from "@sinclair/typebox";
import type { ChainBridge, Settlement } from "../../chain-bridge/index.ts";
import { BridgeError } from "../../chain-bridge/index.ts";
import type { Database } from "../../prisma/client.ts";
import type { JobStatus, Prisma, Task, TrainingJob } from "../../prisma/generated/client.ts";
import type { AuditTask, Progress, TrainingTask, WorkInputs } from "../../protocol/node-wire.ts";
import type { Receipt } from "../../protocol/receipt.ts";
import { checkpointRoot, specHash } from "../../protocol/receipt.ts";
import type { TaskProducer } from "../../queue/producers.ts";
import { ApiError } from "../errors.ts";
import { newId } from "../ids.ts";
import { pageOf } from "../schemas/common.ts";
import type { QuoteResponse } from "../schemas/training-jobs.ts";
import type { BlobStore } from "./blobs.ts";
import type { JobEvents } from "./job-events.ts";
import type { AuditVerdict, CheckpointReport, JobLifecycle, TrainingResult } from "./job-lifecycle.ts";
import { type JobReads, type JobView, jobView } from "./job-reads.ts";
import type { Ledger } from "./ledger.ts";
import { auditedSegments, segmentsOf, type VerificationLevel } from "./pricing.ts";
import type { Quote, QuoteRequest, Quotes } from "./quotes.ts";

/** A quote as the API answers it: the SDK's type is its one definition. */
export type QuoteView = Static<typeof QuoteResponse>;

/** How long a job may wait for the network to take it before it fails (costing nothing). */
export const DISPATCH_PATIENCE_MS = 10 * 60_000;

const TERMINAL: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled"]);

/** The task of a job's first attempt; deterministic so dispatching again finds the same escrow. */
export function taskIdOf(jobId: string): string {
  return `task_${jobId.slice("job_".length)}`;
}

/** Steps between checkpoints: the spec's `checkpoint_every`, at most the job's length. */
export function checkpointEveryOf(job: Pick<TrainingJob, "spec" | "totalSteps">): number {
  const spec = job.spec as Record<string, unknown>;
  return Math.min(Number(spec.checkpoint_every ?? 100), job.totalSteps);
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
  /** Where trained models are (nodes upload them through the gateway). */
  blobs: BlobStore;
  quotes: Quotes;
  ledger: Ledger;
  events: JobEvents;
  reads: JobReads;
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
          platformFeeCents: BigInt(quote.price.platform_fee_cents),
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
    return jobView(job, 0);
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
    await this.cancelEscrow(taskIdOf(job.id));
    await this.finish(job, "cancelled", null, 0);
    return this.get(organizationId, id);
  }

  /** The trained model of a succeeded job, streamed from the blob store. */
  async trainedModel(organizationId: string, id: string): Promise<{ sha256: string; content: Readable }> {
    const job = await this.row(organizationId, id);
    if (job.status !== "succeeded" || job.resultSha256 === null) {
      throw new ApiError(
        409,
        "invalid_request_error",
        "model_not_ready",
        `Job '${id}' is ${job.status}; its model can be downloaded once it has succeeded`,
      );
    }
    return { sha256: job.resultSha256, content: await this.deps.blobs.read(job.resultSha256) };
  }

  /** The receipt kept when the job succeeded (api/services/receipts.ts issues it). */
  async receipt(organizationId: string, id: string): Promise<Receipt> {
    const job = await this.row(organizationId, id);
    if (job.receipt === null) {
      throw new ApiError(
        409,
        "invalid_request_error",
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
   * Opens the escrow and queues the training for the worker the chain drew. Safe to call again at
   * any time: the escrow is idempotent per task and the queue per task and attempt. A chain that
   * refuses the escrow fails the job as the network's fault, which releases every reserved cent.
   * The escrow is the network's share of the price; the platform fee stays in the ledger.
   */
  async dispatch(jobId: string): Promise<void> {
    const { chain, db } = this.deps;
    if (!chain || !this.deps.producer) throw new Error("dispatch needs the chain bridge and the task queue");
    const job = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
    if (job.status !== "queued") return;
    const model = await db.file.findUniqueOrThrow({ where: { id: job.modelFileId } });
    const dataset = await db.file.findUniqueOrThrow({ where: { id: job.datasetFileId } });
    const checkpointEvery = checkpointEveryOf(job);
    const taskId = taskIdOf(job.id);
    const segments = segmentsOf(job.totalSteps, checkpointEvery);
    const audits = auditedSegments(job.verificationLevel as VerificationLevel, segments);
    let escrow: Awaited<ReturnType<ChainBridge["openEscrow"]>>;
    try {
      const { maxVerificationLevel } = await chain.parameters();
      escrow = await chain.openEscrow({
        taskId,
        jobId,
        usdCents: job.reservedCents - job.platformFeeCents,
        spec: {
          modelSha256: model.sha256,
          datasetSha256: dataset.sha256,
          specSha256: specHash(job.spec),
          profile: null,
          maxSteps: BigInt(job.totalSteps),
          checkpointInterval: BigInt(checkpointEvery),
          graphNodes: 1,
          verificationLevel: Math.min(audits, maxVerificationLevel),
        },
      });
    } catch (error) {
      if (!(error instanceof BridgeError && error.code === "DISPATCH_FAILED")) throw error;
      // No free worker (or a treasury short of tokens) is usually a matter of minutes: the job
      // waits, and the verification driver dispatches it again, until its patience runs out.
      if (Date.now() - job.createdAt.getTime() > DISPATCH_PATIENCE_MS) {
        await this.finish(job, "failed", `the network could not take the job: ${error.message}`, 0);
      } else {
        await this.deps.events.emit(jobId, "job.waiting", { reason: error.message });
      }
      return;
    }
    const task = await db.task.findUniqueOrThrow({ where: { id: taskId } });
    await this.queueTraining(task);
    await this.deps.events.emit(jobId, "job.dispatched", {
      worker: escrow.worker,
      chain_task_id: escrow.chainTaskId.toString(),
      block_number: escrow.blockNumber,
    });
  }

  /**
   * Queues the task's training for its assigned worker and attempt, with the checkpoints earlier
   * attempts stored, so a re-assigned task resumes from the last one instead of step 0.
   */
  async queueTraining(task: Task): Promise<void> {
    const { db, producer } = this.deps;
    if (!producer) throw new Error("queueing needs the task queue");
    if (task.chainTaskId === null || task.workerAddress === null) {
      throw new Error(`task ${task.id} has no assigned worker on chain (status ${task.status})`);
    }
    const { job, inputs } = await this.workInputs(task);
    const stored = await db.checkpoint.findMany({ where: { taskId: task.id }, orderBy: { step: "asc" } });
    const work: TrainingTask = {
      ...inputs,
      total_steps: job.totalSteps,
      checkpoint_every: checkpointEveryOf(job),
      chain: { chain_task_id: task.chainTaskId.toString(), attempt: task.attempt },
    };
    await producer.enqueueTraining(
      task.workerAddress,
      work,
      stored.map((c) => ({ step: c.step, sha256: c.sha256 })),
    );
  }

  /** What a node needs of the task's job to run it: blobs by hash, never the user's ids or names. */
  async workInputs(task: Task): Promise<{ job: TrainingJob; inputs: WorkInputs }> {
    const { db } = this.deps;
    const job = await db.trainingJob.findUniqueOrThrow({ where: { id: task.jobId } });
    const [model, dataset] = await Promise.all([
      db.file.findUniqueOrThrow({ where: { id: job.modelFileId } }),
      db.file.findUniqueOrThrow({ where: { id: job.datasetFileId } }),
    ]);
    return {
      job,
      inputs: {
        task_id: task.id,
        model_sha256: model.sha256,
        dataset_sha256: dataset.sha256,
        dataset_file_name: dataset.filename,
        spec: job.spec,
      },
    };
  }

  async isCurrentDuty(work: TrainingTask | AuditTask, node: string): Promise<boolean> {
    const { chain } = this.deps;
    if (!work.chain || !chain) return true;
    const state = await chain.taskState(work.task_id);
    if (state.attempt !== work.chain.attempt) return false;
    if ("audit_index" in work.chain) {
      const audit = state.audits[work.chain.audit_index];
      const open = state.status === "Auditing" && audit?.verifier === node && audit.verdict === null;
      return open && (await chain.head()) <= state.verdictDeadline;
    }
    return state.status === "Assigned" && state.worker === node;
  }

  async taskStarted(taskId: string, workerAddress: string): Promise<void> {
    const jobId = await this.jobOfTask(taskId);
    const { count } = await this.deps.db.trainingJob.updateMany({
      where: { id: jobId, status: "queued" },
      data: { status: "running" },
    });
    if (count > 0) await this.deps.events.emit(jobId, "training.started", { worker: workerAddress });
  }

  async progress(taskId: string, progress: Progress): Promise<void> {
    await this.deps.events.emit(await this.jobOfTask(taskId), "training.progress", { ...progress });
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

  /**
   * The worker delivered the model and its signed commitment. Where the task is on chain, the
   * worker must have committed the same root there first: the chain's record is what verifiers
   * audit and what the escrow pays for.
   */
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
    await this.requireCommitted(taskId, result);
    const updated = await this.deps.db.$transaction(async (tx) => {
      const { count } = await tx.trainingJob.updateMany({
        where: { id: jobId, status: { in: ["queued", "running"] } },
        data: {
          status: "verifying",
          resultSha256: result.modelSha256,
          resultMetrics: result.metrics as Prisma.InputJsonValue,
        },
      });
      if (count > 0) {
        await tx.task.update({
          where: { id: taskId },
          data: { commitmentSignature: result.commitmentSignature },
        });
      }
      return count > 0;
    });
    if (updated) {
      await this.deps.events.emit(jobId, "training.completed", {
        model_sha256: result.modelSha256,
        checkpoint_root: root,
        checkpoints: result.leaves.length,
        metrics: result.metrics,
      });
    }
  }

  async auditCompleted(taskId: string, verdict: AuditVerdict): Promise<void> {
    const jobId = await this.jobOfTask(taskId);
    if (verdict.chain) {
      const key = { taskId, attempt: verdict.chain.attempt, auditIndex: verdict.chain.auditIndex };
      await this.deps.db.taskAudit.upsert({
        where: { taskId_attempt_auditIndex: key },
        create: {
          ...key,
          segment: verdict.chain.segment,
          verifierAddress: verdict.verifierAddress,
          verdictSignature: verdict.signature,
        },
        update: { verdictSignature: verdict.signature },
      });
    }
    await this.deps.events.emit(jobId, "verification.verdict", {
      verifier: verdict.verifierAddress,
      from_step: verdict.fromStep,
      to_step: verdict.toStep,
      agrees: verdict.agrees,
    });
  }

  /**
   * Ends a job that cannot finish. A task not yet committed on chain is cancelled there, which
   * returns the whole escrow; the user pays for trained steps only when the fault was the job's.
   */
  async taskFailed(taskId: string, reason: string, networkFault: boolean): Promise<void> {
    const job = await this.deps.db.trainingJob.findUniqueOrThrow({
      where: { id: await this.jobOfTask(taskId) },
    });
    if (TERMINAL.has(job.status)) return;
    await this.cancelEscrow(taskId);
    const charge = networkFault ? 0 : await this.costOfStepsDone(job);
    await this.finish(job, "failed", reason, charge);
  }

  /**
   * The chain finalized the task: the user is charged what the network was paid and the same
   * share of the platform fee, the rest of the reservation is released, and the receipt is kept.
   */
  async succeed(jobId: string, settlement: Settlement, receipt: Receipt): Promise<void> {
    const job = await this.deps.db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
    const escrowCents = settlement.spentCents + settlement.refundCents;
    const feeCents =
      escrowCents === 0n
        ? job.platformFeeCents
        : (job.platformFeeCents * settlement.spentCents + escrowCents - 1n) / escrowCents;
    const charge = Math.min(Number(job.reservedCents), Number(settlement.spentCents + feeCents));
    await this.finish(job, "succeeded", null, charge, receipt);
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
    receipt?: Receipt,
  ) {
    const event = await this.deps.db.$transaction(async (tx) => {
      const { count } = await tx.trainingJob.updateMany({
        where: { id: job.id, status: { notIn: [...TERMINAL] } },
        data: {
          status,
          failureReason: reason,
          chargedCents: BigInt(chargeCents),
          finishedAt: new Date(),
          ...(receipt ? { receipt: receipt as unknown as Prisma.InputJsonValue } : {}),
        },
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

  /** Cancels the task's escrow on chain while the worker has not committed (later, the chain refuses). */
  private async cancelEscrow(taskId: string): Promise<void> {
    const { chain } = this.deps;
    const task = await this.deps.db.task.findUnique({ where: { id: taskId } });
    if (!chain || !task?.chainTaskId) return;
    const state = await chain.taskState(taskId);
    if (state.status === "Assigned" || state.status === "Unassigned") await chain.cancel(taskId);
  }

  private async requireCommitted(taskId: string, result: TrainingResult): Promise<void> {
    const { chain } = this.deps;
    const task = await this.deps.db.task.findUnique({ where: { id: taskId } });
    if (!chain || !task?.chainTaskId) return;
    const state = await chain.taskState(taskId);
    const committed = state.commitment;
    if (state.worker !== result.workerAddress || committed === null) {
      throw new ApiError(
        409,
        "invalid_request_error",
        "not_committed",
        `commit the checkpoint root on chain (compute.commit of chain task ${task.chainTaskId}, attempt ${state.attempt}) before completing the task`,
      );
    }
    if (committed.root.replace(/^0x/, "") !== result.checkpointRoot) {
      throw ApiError.badRequest(
        "commitment_invalid",
        `the root committed on chain (${committed.root}) is not the checkpoint root reported (${result.checkpointRoot})`,
        "checkpoint_root",
      );
    }
  }

  private async jobOfTask(taskId: string): Promise<string> {
    const task = await this.deps.db.task.findUnique({ where: { id: taskId }, select: { jobId: true } });
    if (!task) throw ApiError.notFound("task", taskId, "task_id");
    return task.jobId;
  }
}
