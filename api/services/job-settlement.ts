// How a job ends and what it costs. Every ending (the user's cancel, a dispatch the network never
// took, a failed task, a finalized one) is the one transition below: the status changes only from
// a live state, and in the same transaction the reservation is settled (the user is charged what
// the network was paid, plus the platform fee on it, and the rest is released) and the event is
// recorded, so a retry, a duplicate report or a second API process cannot end a job twice.
import { BridgeError, type ChainBridge, type Settlement } from "../../chain-bridge/index.ts";
import type { Database } from "../../prisma/client.ts";
import type { JobStatus, Prisma, TrainingJob } from "../../prisma/generated/client.ts";
import type { Receipt } from "../../protocol/receipt.ts";
import { type UserReasonCode, userReason } from "./failure-reasons.ts";
import { taskIdOf } from "./job-dispatch.ts";
import type { JobEvents } from "./job-events.ts";
import { jobView } from "./job-reads.ts";
import type { Ledger } from "./ledger.ts";
import type { WebhookEvent } from "./webhooks/events.ts";
import type { WebhookOutbox } from "./webhooks/outbox.ts";

export const TERMINAL: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled"]);

export interface JobSettlementDeps {
  db: Database;
  ledger: Ledger;
  events: JobEvents;
  /** The job's ending is announced to the organization's webhook endpoints. */
  webhooks: WebhookOutbox;
  /** Absent in a process without the chain bridge: then no job has an escrow to cancel. */
  chain?: ChainBridge;
}

export class JobSettlement {
  constructor(private readonly deps: JobSettlementDeps) {}

  /**
   * The user's cancel of a queued or running job (docs/api.md, "Cancelling"). The user is charged
   * for the work delivered so far: the steps of the checkpoints stored, as a share of the quoted
   * price, the same rule as a failure that is the job's own fault. On chain, a task the worker has
   * not committed is cancelled now and its whole escrow returns; one already committed cannot be
   * cancelled before its delivery window ends, and the verification driver cancels it then
   * (releaseOrphanedEscrows), so no escrow stays locked. False when the job is no longer queued or
   * running (its model was delivered meanwhile): then nothing changed.
   */
  async cancel(job: TrainingJob): Promise<boolean> {
    if (job.status === "verifying") return this.cancelDisputed(job);
    await this.cancelEscrow(taskIdOf(job.id));
    const charge = await this.costOfStepsDone(job);
    return this.finish(job, "cancelled", null, charge, { from: ["queued", "running"] });
  }

  /**
   * The user's cancel of a job whose verification is disputed on chain: allowed, and free. The
   * work is in question, so nothing of it is charged; the verification driver keeps playing the
   * platform's part until the disputes end and then releases the escrow (windDown). False when
   * the job is not disputed (a job being verified without a dispute cannot be cancelled).
   */
  private async cancelDisputed(job: TrainingJob): Promise<boolean> {
    const { chain } = this.deps;
    const task = await this.deps.db.task.findUnique({ where: { id: taskIdOf(job.id) } });
    if (!chain || task?.chainTaskId === null || task?.chainTaskId === undefined) return false;
    const state = await chain.taskState(task.id);
    if (state.disputes.length === 0) return false;
    return this.finish(job, "cancelled", null, 0, { from: ["verifying"] });
  }

  /** A job that waited in line past its `expires_after`: it never started, so nothing is charged. */
  async expire(job: TrainingJob): Promise<void> {
    await this.finish(job, "cancelled", "expired", 0, { event: "job.expired" });
  }

  /**
   * Ends a job that cannot finish. A task not yet committed on chain is cancelled there, which
   * returns the whole escrow; the user pays for trained steps only when the fault was the job's.
   */
  async fail(job: TrainingJob, taskId: string, reason: UserReasonCode, networkFault: boolean): Promise<void> {
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
    await this.finish(job, "succeeded", null, charge, { receipt });
  }

  /**
   * Ends a job once: the status changes only from a live state, and in the same transaction the
   * reservation is settled (charge `chargeCents`, release the rest) and the events recorded: the
   * job's own (`job.<status>` unless `event` names another ending, such as job.expired) and its
   * webhooks'. `from` narrows the live states it may end from. True when this call ended it.
   */
  async finish(
    job: TrainingJob,
    status: "succeeded" | "failed" | "cancelled",
    reasonCode: UserReasonCode | null,
    chargeCents: number,
    {
      receipt,
      event: eventType = `job.${status}`,
      from,
    }: { receipt?: Receipt; event?: string; from?: JobStatus[] } = {},
  ): Promise<boolean> {
    // Only a typed reason reaches the user: chain and node text stays in the logs.
    const reason = reasonCode === null ? null : userReason(reasonCode);
    const event = await this.deps.db.$transaction(async (tx) => {
      const { count } = await tx.trainingJob.updateMany({
        where: { id: job.id, status: from ? { in: from } : { notIn: [...TERMINAL] } },
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
      const ended = await tx.trainingJob.findUniqueOrThrow({ where: { id: job.id } });
      const steps = status === "succeeded" ? ended.totalSteps : await this.stepsCompleted(job.id, tx);
      const announced: WebhookEvent[] = [{ type: `training_job.${status}`, data: jobView(ended, steps) }];
      if (receipt)
        announced.push({ type: "training_job.verification_completed", data: verificationOf(receipt) });
      const deliveries = [];
      for (const webhook of announced) {
        deliveries.push(...(await this.deps.webhooks.record(tx, job.organizationId, webhook)));
      }
      const jobEvent = await this.deps.events.record(
        job.id,
        eventType,
        { reason, charged_cents: chargeCents, released_cents: reserved - chargeCents },
        tx,
      );
      return { jobEvent, deliveries };
    });
    if (!event) return false;
    await this.deps.events.publish(job.id, event.jobEvent);
    await this.deps.webhooks.send(event.deliveries);
    return true;
  }

  private async stepsCompleted(jobId: string, tx: Prisma.TransactionClient | Database = this.deps.db) {
    const last = await tx.checkpoint.findFirst({
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

  /**
   * Cancels the task's escrow on chain while the worker has not committed. A commit that lands
   * first makes the chain refuse (NotCancellable): the verification driver cancels the task once
   * its delivery window has passed.
   */
  private async cancelEscrow(taskId: string): Promise<void> {
    const { chain } = this.deps;
    const task = await this.deps.db.task.findUnique({ where: { id: taskId } });
    if (!chain || task?.chainTaskId === null || task?.chainTaskId === undefined) return;
    const state = await chain.taskState(taskId);
    if (state.status !== "Assigned" && state.status !== "Unassigned") return;
    try {
      await chain.cancel(taskId);
    } catch (error) {
      const refused = error instanceof BridgeError && error.module?.name === "NotCancellable";
      if (!refused) throw error;
    }
  }
}

/** What `training_job.verification_completed` tells: the audits' outcome and where the receipt is. */
function verificationOf(receipt: Receipt): Record<string, unknown> {
  const { body } = receipt;
  return {
    job: body.job_id,
    verification: body.verification_level,
    audits: body.audits.length,
    audits_agreed: body.audits.filter((audit) => audit.agrees).length,
    challenges: body.challenges.map((challenge) => challenge.outcome),
    model_sha256: body.result.model_sha256,
    receipt_url: `/v1/training-jobs/${body.job_id}/receipt`,
  };
}
