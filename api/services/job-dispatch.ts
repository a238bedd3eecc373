// Takes a created job to the network: opens its escrow on chain, which draws the worker, and
// queues the training for that worker. The verification driver (verification.ts) takes the job
// on from there, and comes back here to queue a re-assigned task or a verifier's inputs.

import type { ChainBridge } from "../../chain-bridge/index.ts";
import { BridgeError } from "../../chain-bridge/index.ts";
import type { Database } from "../../prisma/client.ts";
import type { Task, TrainingJob } from "../../prisma/generated/client.ts";
import type { TrainingTask, WorkInputs } from "../../protocol/node-wire.ts";
import { specHash } from "../../protocol/receipt.ts";
import type { TaskProducer } from "../../queue/producers.ts";
import type { DatasetDetails } from "./inspection/dataset.ts";
import type { JobEvents } from "./job-events.ts";
import type { JobSettlement } from "./job-settlement.ts";
import { priceOf } from "./pricing.ts";

/** How long a job may wait for the network to take it before it fails (costing nothing). */
export const DISPATCH_PATIENCE_MS = 10 * 60_000;

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
}

export class JobDispatcher {
  /** Dispatches under way in this process: a second call for the same job joins the first. */
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly deps: JobDispatcherDeps) {}

  /** Dispatches without making the caller wait; a failure is retried by the verification driver. */
  dispatchLater(jobId: string, onError: (error: unknown) => void): void {
    if (this.deps.dispatchesHere && !this.deps.dispatchesHere()) return;
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
  dispatch(jobId: string): Promise<void> {
    let running = this.running.get(jobId);
    if (!running) {
      running = this.dispatchOnce(jobId).finally(() => this.running.delete(jobId));
      this.running.set(jobId, running);
    }
    return running;
  }

  private async dispatchOnce(jobId: string): Promise<void> {
    const { chain, db } = this.deps;
    const job = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
    if (job.status !== "queued") return;
    const model = await db.file.findUniqueOrThrow({ where: { id: job.modelFileId } });
    const dataset = await db.file.findUniqueOrThrow({ where: { id: job.datasetFileId } });
    const checkpointEvery = checkpointEveryOf(job);
    const taskId = taskIdOf(job.id);
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
        const reason = `the job needs ${audits} audits but the chain takes at most ${maxVerificationLevel} per task (max_verification_level)`;
        await this.deps.settlement.finish(job, "failed", reason, 0);
        return;
      }
      escrow = await chain.openEscrow({
        taskId,
        jobId,
        usdCents: job.reservedCents - job.platformFeeCents,
        spec: {
          modelSha256: model.sha256,
          datasetSha256: dataset.sha256,
          specSha256: specHash(job.spec),
          // Any profile: the chain binds the task to the one of the worker it draws.
          profile: null,
          maxSteps: BigInt(job.totalSteps),
          checkpointInterval: BigInt(checkpointEvery),
          graphNodes: 1,
          verificationLevel: audits,
        },
      });
    } catch (error) {
      if (!(error instanceof BridgeError && error.code === "DISPATCH_FAILED")) throw error;
      // No free worker (or a treasury short of tokens) is usually a matter of minutes: the job
      // waits, and the verification driver dispatches it again, until its patience runs out.
      if (Date.now() - job.createdAt.getTime() > DISPATCH_PATIENCE_MS) {
        const reason = `the network could not take the job: ${error.message}`;
        await this.deps.settlement.finish(job, "failed", reason, 0);
      } else {
        await this.deps.events.emit(jobId, "job.waiting", { reason: error.message });
      }
      return;
    }
    // Cancelled while the escrow was opening: no training goes out, and the verification
    // driver returns the escrow (releaseOrphanedEscrows).
    const now = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId }, select: { status: true } });
    if (now.status !== "queued") return;
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
  }

  /**
   * Queues the task's training for its assigned worker and attempt, with the checkpoints earlier
   * attempts stored, so a re-assigned task resumes from the last one instead of step 0.
   */
  async queueTraining(task: Task): Promise<void> {
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
        model_sha256: model.sha256,
        dataset_sha256: dataset.sha256,
        // The user's file name says things about them (a project, a customer); the node needs
        // only the format, which inspection found in the content.
        dataset_file_name: `dataset.${(dataset.details as unknown as DatasetDetails).format}`,
        spec: job.spec,
      },
    };
  }
}
