// Takes created jobs to the network in their turn (job-queue.ts): opens each one's escrow on
// chain, which draws the worker, and queues the training for that worker. A job the network
// cannot take yet (no worker with free stake) waits in line, as long as it takes, unless the user
// set an expiry or cancels it. The verification driver (verification.ts) takes the job
// on from there, and comes back here to queue a re-assigned task or a verifier's inputs.

import type { ChainBridge, TaskView } from "../../chain-bridge/index.ts";
import { BridgeError } from "../../chain-bridge/index.ts";
import type { Database } from "../../prisma/client.ts";
import type { Task, TrainingJob } from "../../prisma/generated/client.ts";
import type { TrainingTask, WorkInputs } from "../../protocol/node-wire.ts";
import { specHash } from "../../protocol/receipt.ts";
import type { TaskProducer } from "../../queue/producers.ts";
import { userReason, waitingReason } from "./failure-reasons.ts";
import type { DatasetDetails } from "./inspection/dataset.ts";
import type { JobEvents } from "./job-events.ts";
import { startingModelSha256 } from "./job-init.ts";
import { LINE } from "./job-queue.ts";
import type { JobSettlement } from "./job-settlement.ts";
import { priceOf } from "./pricing.ts";

/** What one dispatch did: the job went out, waits for capacity, or was not (or no longer) queued. */
export type DispatchOutcome = "dispatched" | "waiting" | "skipped";

/** The task of a job's first attempt; deterministic so dispatching again finds the same escrow. */
export function taskIdOf(jobId: string): string {
  return `task_${jobId.slice("job_".length)}`;
}

/** Steps between checkpoints: the spec's `checkpoint_every`, at most the job's length. */
export function checkpointEveryOf(job: Pick<TrainingJob, "spec" | "totalSteps">): number {
  const spec = job.spec as Record<string, unknown>;
  return Math.min(Number(spec.checkpoint_every ?? 100), job.totalSteps);
}

export interface JobDispatcherDeps {
  db: Database;
  chain: ChainBridge;
  producer: TaskProducer;
  events: JobEvents;
  settlement: JobSettlement;
  /**
   * Whether this process dispatches right away. With several API processes only the leader
   * (leadership.ts) does: the verification driver's pass there takes every job still waiting.
   */
  dispatchesHere?: () => boolean;
  /** Where the chain's own words go: operators read them, users get a plain reason (failure-reasons.ts). */
  logError?: (error: unknown, context: string) => void;
}

export class JobDispatcher {
  private draining: Promise<void> | null = null;
  private again = false;

  constructor(private readonly deps: JobDispatcherDeps) {}

  /** Moves the line along without making the caller wait; a failure is retried at the next drain. */
  drainLater(onError: (error: unknown) => void): void {
    // Only the leader dispatches: two processes draining one line would race for its head.
    if (this.deps.dispatchesHere && !this.deps.dispatchesHere()) return;
    this.drain().catch(onError);
  }

  /**
   * Ends the waiting jobs past their expiry, then dispatches from the head of the line until the
   * network refuses one for want of capacity: nobody behind it may take the worker it is waiting
   * for. One pass at a time in this process; a call during a pass runs one more after it, so a job
   * created meanwhile is not left waiting for the next tick.
   */
  drain(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again);
    })().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  private async pass(): Promise<void> {
    const { db, settlement } = this.deps;
    const overdue = await db.trainingJob.findMany({
      where: {
        status: "queued",
        expiresAt: { lte: new Date() },
        tasks: { none: { chainTaskId: { not: null } } },
      },
    });
    for (const job of overdue) await settlement.expire(job);
    const line = await db.$queryRawUnsafe<Array<{ id: string }>>(LINE);
    for (const { id } of line) {
      if ((await this.dispatch(id)) === "waiting") return;
    }
  }

  /**
   * Opens the escrow and queues the training for the worker the chain drew. Safe to call again at
   * any time: the escrow is idempotent per task and the queue per task and attempt. A chain that
   * refuses the escrow for now leaves the job waiting, its reservation kept. The escrow is the
   * network's share of the price; the platform fee stays in the ledger.
   */
  async dispatch(jobId: string): Promise<DispatchOutcome> {
    const { chain, db } = this.deps;
    const job = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
    if (job.status !== "queued") return "skipped";
    const model = await db.file.findUniqueOrThrow({ where: { id: job.modelFileId } });
    const dataset = await db.file.findUniqueOrThrow({ where: { id: job.datasetFileId } });
    const checkpointEvery = checkpointEveryOf(job);
    const taskId = taskIdOf(job.id);
    const refusedBefore = (await db.task.findUnique({ where: { id: taskId } }))?.status === "open_failed";
    // The quote's rule again, from what the job recorded: the audits the user paid for. The stored
    // FLOPs are rounded up to an integer, far below a cent of difference.
    const audits = priceOf(
      Number(job.flopsPerStep),
      job.totalSteps,
      checkpointEvery,
      job.verificationLevel,
    ).audited_segments;
    let escrow: Awaited<ReturnType<ChainBridge["openEscrow"]>>;
    try {
      const { maxVerificationLevel } = await chain.parameters();
      if (audits > maxVerificationLevel) {
        // Fewer audits than paid for would silently lower the detection the quote promised.
        this.deps.logError?.(
          new Error(`needs ${audits} audits, max_verification_level is ${maxVerificationLevel}`),
          `job ${jobId} cannot be dispatched`,
        );
        await this.deps.settlement.finish(job, "failed", "verification_unavailable", 0);
        return "skipped";
      }
      escrow = await chain.openEscrow({
        taskId,
        jobId,
        usdCents: job.reservedCents - job.platformFeeCents,
        spec: {
          modelSha256: startingModelSha256(job, model),
          datasetSha256: dataset.sha256,
          specSha256: specHash(job.spec),
          // Any profile: the chain binds the task to the one of the worker it draws.
          profile: null,
          maxSteps: BigInt(job.totalSteps),
          checkpointInterval: BigInt(checkpointEvery),
          // Counted at the quote for the 1-thread profile, the one every node runs by default
          // (docs/verification.md, "The pinpoint game's N"); a job quoted before the count existed
          // keeps the former 1, with which no dispute reaches phase 2.
          graphNodes: job.graphNodes ?? 1,
          verificationLevel: audits,
        },
      });
    } catch (error) {
      if (!(error instanceof BridgeError && error.code === "DISPATCH_FAILED")) throw error;
      // No worker with free stake (or a treasury short of tokens) is the network being busy, not
      // the job's fault: it keeps its place and reservation, and the next drain tries again.
      // Once per wait, as the event: the drain retries every few seconds.
      if (!refusedBefore) {
        this.deps.logError?.(error, `job ${jobId} waits: the chain refused its escrow`);
        await this.deps.events.emit(jobId, "job.waiting", { reason: userReason(waitingReason(error)) });
      }
      return "waiting";
    }
    // Cancelled while the escrow was opening: no training goes out, and the verification
    // driver returns the escrow (releaseOrphanedEscrows).
    const now = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId }, select: { status: true } });
    if (now.status !== "queued") return "skipped";
    // The chain bound the task to its worker's determinism profile: every verifier and any later
    // worker shares it, and the receipt records it.
    const { profile } = await chain.taskState(taskId);
    await db.trainingJob.update({
      where: { id: jobId },
      data: { profileHash: profile === null ? null : profile.replace(/^0x/, "") },
    });
    const task = await db.task.findUniqueOrThrow({ where: { id: taskId } });
    await this.queueTraining(task);
    await this.deps.events.emit(jobId, "job.dispatched", {
      worker: escrow.worker,
      chain_task_id: escrow.chainTaskId.toString(),
      block_number: escrow.blockNumber,
    });
    return "dispatched";
  }

  /**
   * Records the worker and attempt the chain assigned the task to (a re-assignment, a re-run after
   * a lost dispute) and queues its training.
   */
  async queueAssigned(taskId: string, assigned: Pick<TaskView, "worker" | "attempt" | "commitDeadline">) {
    const row = await this.deps.db.task.update({
      where: { id: taskId },
      data: {
        status: "assigned",
        workerAddress: assigned.worker,
        attempt: assigned.attempt,
        commitDeadline: assigned.commitDeadline,
      },
    });
    await this.queueTraining(row);
  }

  /**
   * Queues the task's training for its assigned worker and attempt, with the checkpoints earlier
   * attempts stored, so a re-assigned task resumes from the last one instead of step 0.
   */
  private async queueTraining(task: Task): Promise<void> {
    const { db, producer } = this.deps;
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
        model_sha256: startingModelSha256(job, model),
        dataset_sha256: dataset.sha256,
        // The user's file name says things about them (a project, a customer); the node needs
        // only the format, which inspection found in the content.
        dataset_file_name: `dataset.${(dataset.details as unknown as DatasetDetails).format}`,
        spec: job.spec,
      },
    };
  }
}
