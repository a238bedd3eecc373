// Drives each job's task through the protocol after the escrow opened, by reading the task's
// state on chain and taking the one step that state calls for: re-assign a worker that missed its
// deadline, draw the audits once the commit is old enough, queue each audit for the verifier the
// chain drew, close the audits after the reveal window, finalize, and settle the job. Every step
// is idempotent (journaled chain calls, queue ids per attempt, guarded job updates), so a pass can
// run again at any time, after a crash or in a new leader, and only advance. With several API
// processes it runs in the leader only (leadership.ts).
import {
  type ChainBridge,
  deliveryOpen,
  type ProtocolParameters,
  type TaskView,
} from "../../chain-bridge/index.ts";
import type { Database } from "../../prisma/client.ts";
import type { Task, TrainingJob } from "../../prisma/generated/client.ts";
import { merkleInclusionProof } from "../../protocol/merkle.ts";
import type { AuditTask } from "../../protocol/node-wire.ts";
import { closeWithin } from "../../queue/closing.ts";
import type { TaskProducer } from "../../queue/producers.ts";
import { DeliveryDriver, type OnBehalfCompletion } from "./delivery-driver.ts";
import { DisputeDriver } from "./dispute-driver.ts";
import type { UserReasonCode } from "./failure-reasons.ts";
import type { JobDispatcher } from "./job-dispatch.ts";
import type { JobEvents } from "./job-events.ts";
import type { JobSettlement } from "./job-settlement.ts";
import { ReceiptError, type Receipts } from "./receipts.ts";

export interface VerificationDriverDeps {
  db: Database;
  chain: ChainBridge;
  producer: TaskProducer;
  dispatcher: JobDispatcher;
  settlement: JobSettlement;
  receipts: Receipts;
  events: JobEvents;
  logError: (error: unknown, message: string) => void;
  /** How long a job may stay `verifying` before it fails at no charge (`VERIFYING_DEADLINE_MS`). */
  verifyingDeadlineMs: number;
  /** Completes a task on its worker's behalf after a Delivered ruling (delivery-driver.ts). */
  completion?: OnBehalfCompletion;
  /**
   * How long a task may wait `Unassigned` (no free worker of its profile) before its job fails at
   * no charge and its escrow is cancelled (`UNASSIGNED_DEADLINE_MS`).
   */
  unassignedDeadlineMs: number;
}

// A call the chain may refuse for now (no verifier eligible yet, no worker to re-assign to) is
// tried again after this many blocks, not on every pass: each refusal costs the treasury a fee.
const RETRY_AFTER_BLOCKS = 5;
const DISPATCH_RETRY_MS = 3_000;
/** Audit rounds per attempt when every verifier of a round missed its window; then the job fails. */
export const MAX_AUDIT_ROUNDS = 3;

const hex = (value: string) => Buffer.from(value.replace(/^0x/, ""), "hex");

export class VerificationDriver {
  private pass: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Set by `stop`: a pass under way ends after its current step. */
  private halted = false;
  /** Per task and step, the block at which a refused call may be tried again. */
  private readonly retryAt = new Map<string, number>();
  private readonly disputes: DisputeDriver;
  private readonly deliveries: DeliveryDriver;

  constructor(private readonly deps: VerificationDriverDeps) {
    this.disputes = new DisputeDriver(deps);
    this.deliveries = new DeliveryDriver(deps);
  }

  /** Runs a pass every `intervalMs` until `stop`. */
  start(intervalMs: number): void {
    this.halted = false;
    this.timer = setInterval(() => {
      this.tick().catch((error: unknown) => this.deps.logError(error, "verification pass failed"));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and lets a running pass finish, unless it is stuck on an unreachable service. */
  async stop(): Promise<void> {
    this.halted = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const running = this.pass;
    if (running)
      await closeWithin(
        () => running,
        () => undefined,
      );
  }

  /** One pass over every live task; a call while a pass runs joins it. */
  tick(): Promise<void> {
    this.pass ??= this.advanceAll().finally(() => {
      this.pass = null;
    });
    return this.pass;
  }

  private async advanceAll(): Promise<void> {
    await this.dispatchWaiting();
    await this.releaseOrphanedEscrows();
    const tasks = await this.deps.db.task.findMany({
      where: {
        chainTaskId: { not: null },
        status: { notIn: ["opening", "open_failed", "cancelled"] },
        job: { status: { in: ["queued", "running", "verifying"] } },
      },
    });
    if (tasks.length === 0) return;
    const [head, parameters] = await Promise.all([this.deps.chain.head(), this.deps.chain.parameters()]);
    for (const task of tasks) {
      // A process that lost the leadership stops between steps; the new leader goes on from here.
      if (this.halted) return;
      try {
        await this.advance(task, head, parameters);
      } catch (error) {
        this.deps.logError(error, `advancing task ${task.id} failed`);
      }
    }
  }

  private async advance(task: Task, head: number, parameters: ProtocolParameters): Promise<void> {
    const { chain } = this.deps;
    const state = await chain.taskState(task.id);
    // What the disputes came to first: a worker that lost one leaves the task re-assigned, to be
    // handed over only once its forged checkpoints are dropped.
    if (!(await this.disputes.record(task, state))) return;
    await this.deliveries.record(task, state);
    switch (state.status) {
      case "Assigned":
        if (!(await this.disputes.journalCaughtUp(task))) return;
        await this.disputes.rerun(task, state);
        if (head > state.commitDeadline) await this.reassign(task, state, head);
        return;
      case "Unassigned":
        if (!(await this.disputes.journalCaughtUp(task))) return;
        if (await this.pastUnassignedDeadline(task)) {
          const job = await this.deps.db.trainingJob.findUniqueOrThrow({ where: { id: task.jobId } });
          await this.failUnverified(job, task, "unassigned_timeout");
          return;
        }
        await this.reassign(task, state, head);
        return;
      case "Committed": {
        const job = await this.deps.db.trainingJob.findUniqueOrThrow({ where: { id: task.jobId } });
        const deliveryEnd = state.commitment!.committedAt + parameters.commitBlocks;
        // The model reaches the platform with the gateway report that follows the commit; a worker
        // that never sends it (or sends a model its checkpoints do not give) is challenged, and
        // the task waits for the referee's ruling (delivery-driver.ts).
        if (await this.deliveries.advance(task, state, head, job, deliveryEnd)) return;
        if (head > deliveryEnd && (await this.pastVerifyingDeadline(task.jobId))) {
          await this.failUnverified(job, task, "verification_timeout");
          return;
        }
        if (head < state.commitment!.committedAt + parameters.auditDelayBlocks) return;
        await this.selectAudits(task, state, head, 0);
        return;
      }
      case "Auditing":
        // A verdict revealed early may open a dispute before the audits close; one the worker
        // lost voids the attempt, and the next pass finds the task re-assigned.
        if (await this.disputes.claimTimeouts(task, state, head)) return;
        await this.queueAudits(task, state);
        if (head > state.revealEnd) {
          await chain.closeAudits(task.id, state.attempt, await this.auditRound(task.jobId, state.attempt));
          await this.deps.events.emit(task.jobId, "verification.closed", {
            passed: (await chain.taskState(task.id)).audits.filter((a) => a.outcome === "Passed").length,
          });
        }
        return;
      case "Closed": {
        // The parties play; the driver ends a turn one of them missed. The task finalizes, or its
        // attempt restarts, once the last dispute ends.
        if (state.disputes.length > 0) {
          await this.disputes.claimTimeouts(task, state, head);
          return;
        }
        // Every audit failed (each verifier missed its window): finalizing would pay for work
        // nobody checked, so other verifiers audit it, a bounded number of times.
        if (state.audits.length > 0 && state.audits.every((a) => a.outcome === "Failed")) {
          const round = (await this.auditRound(task.jobId, state.attempt)) + 1;
          const job = await this.deps.db.trainingJob.findUniqueOrThrow({ where: { id: task.jobId } });
          if (round >= MAX_AUDIT_ROUNDS || (await this.pastVerifyingDeadline(task.jobId))) {
            await this.failUnverified(job, task, "audits_missed");
            return;
          }
          await this.selectAudits(task, state, head, round);
          return;
        }
        await chain.finalize(task.id);
        await this.settle(task);
        return;
      }
      case "Finalized":
        await this.settle(task);
        return;
      case "Cancelled":
        return;
    }
  }

  /** The line of waiting jobs, moved along every few seconds (JobDispatcher.drain). */
  private async dispatchWaiting(): Promise<void> {
    const now = Date.now();
    if ((this.retryAt.get("line:dispatch") ?? 0) > now) return;
    this.retryAt.set("line:dispatch", now + DISPATCH_RETRY_MS);
    await this.deps.dispatcher
      .drain()
      .catch((error: unknown) => this.deps.logError(error, "dispatching the waiting jobs failed"));
  }

  /**
   * Escrows of jobs that ended while their escrow was being opened (a cancel racing the dispatch,
   * a job failed in another process): the job is settled, so nothing else would ever release
   * the tokens. While no worker has committed, the chain returns them.
   */
  private async releaseOrphanedEscrows(): Promise<void> {
    const orphans = await this.deps.db.task.findMany({
      where: {
        chainTaskId: { not: null },
        // Committed: a job cancelled after its worker committed, whose model never reached us.
        // Auditing, closed: a job cancelled while its verification was disputed.
        status: { in: ["unassigned", "assigned", "committed", "auditing", "closed"] },
        job: { status: { in: ["succeeded", "failed", "cancelled"] } },
      },
    });
    const head = orphans.length > 0 ? await this.deps.chain.head() : 0;
    const parameters = orphans.length > 0 ? await this.deps.chain.parameters() : null;
    for (const task of orphans) {
      if (this.halted) return;
      if (!this.due(task.id, "release", head)) continue;
      try {
        const state = await this.deps.chain.taskState(task.id);
        if (state.status === "Auditing" || state.status === "Closed") {
          await this.windDown(task, state, head);
          continue;
        }
        // An open delivery challenge ends through its ruling; one nobody ruled on is closed once it lapses.
        if (state.status === "Committed" && deliveryOpen(state.delivery)) {
          if (head > state.delivery.lapsesAfter) await this.deps.chain.closeDelivery(task.id, state.attempt);
          continue;
        }
        // A commit may be cancelled only once its delivery window has passed (PROTOCOL.md §9).
        const undelivered =
          state.status === "Committed" && head > state.commitment!.committedAt + parameters!.commitBlocks;
        if (state.status === "Assigned" || state.status === "Unassigned" || undelivered)
          await this.deps.chain.cancel(task.id);
      } catch (error) {
        this.retryAt.set(`${task.id}:release`, head + RETRY_AFTER_BLOCKS);
        this.deps.logError(error, `releasing the escrow of task ${task.id} failed`);
      }
    }
  }

  /**
   * The task of a job cancelled while disputed (docs/api.md, "Cancelling"): the disputes are
   * still played to the end — the driver claims a missed turn — then the escrow is released: the
   * chain returns it whole when the worker lost (the task is re-assigned, then cancelled above) or
   * nothing was verified, and otherwise pays the worker whose work was upheld.
   */
  private async windDown(task: Task, state: TaskView, head: number): Promise<void> {
    const { chain } = this.deps;
    if (await this.disputes.claimTimeouts(task, state, head)) return;
    if (state.status === "Auditing") {
      if (head > state.revealEnd)
        await chain.closeAudits(task.id, state.attempt, await this.auditRound(task.jobId, state.attempt));
      return;
    }
    if (state.disputes.length > 0) return;
    if (state.audits.every((audit) => audit.outcome === "Failed")) await chain.cancel(task.id);
    else await chain.finalize(task.id);
  }

  /** Draws audit `round` of the task's attempt (round 0 after the commit, later ones after all missed). */
  private async selectAudits(task: Task, state: TaskView, head: number, round: number): Promise<void> {
    if (!this.due(task.id, "select", head)) return;
    const selected = await this.deps.chain.selectAudits(task.id, state.attempt, round);
    if (selected.status === "failed") {
      this.retryAt.set(`${task.id}:select`, head + RETRY_AFTER_BLOCKS);
      return;
    }
    const audited = await this.deps.chain.taskState(task.id);
    await this.deps.events.emit(task.jobId, "verification.audits_selected", {
      attempt: audited.attempt,
      round,
      audits: audited.audits.map((a) => ({ segment: a.segment, verifier: a.verifier })),
      verdict_deadline_block: audited.verdictDeadline,
      reveal_end_block: audited.revealEnd,
    });
    await this.queueAudits(task, audited);
  }

  /** The round of the attempt's latest audit selection, from the job's own event log. */
  private async auditRound(jobId: string, attempt: number): Promise<number> {
    const rounds = await this.deps.db.jobEvent.count({
      where: {
        jobId,
        type: "verification.audits_selected",
        data: { path: ["attempt"], equals: attempt },
      },
    });
    return Math.max(0, rounds - 1);
  }

  /**
   * Whether verification has waited too long since it last became the job's to finish: the
   * delivery of the model, or the end of a dispute the verifier lost (a game of many rounds may
   * outlast the deadline, and the audits that follow are a fresh start).
   */
  private async pastVerifyingDeadline(jobId: string): Promise<boolean> {
    const completed = await this.deps.db.jobEvent.findFirst({
      where: { jobId, type: { in: ["training.completed", "verification.dispute_rejected"] } },
      orderBy: { id: "desc" },
      select: { createdAt: true },
    });
    return completed !== null && Date.now() - completed.createdAt.getTime() > this.deps.verifyingDeadlineMs;
  }

  /**
   * Since the chain left the task waiting for a worker (its TaskUnassigned event, as recorded), and
   * whether that is longer than the deadline. Counted from the recorded event, not this process's
   * memory, so a new leader keeps the same clock.
   */
  private async pastUnassignedDeadline(task: Task): Promise<boolean> {
    const since = await this.deps.db.chainEvent.findFirst({
      where: { chainTaskId: task.chainTaskId, pallet: "Compute", name: "TaskUnassigned" },
      orderBy: { blockNumber: "desc" },
      select: { createdAt: true },
    });
    const from = since?.createdAt ?? task.updatedAt;
    return Date.now() - from.getTime() > this.deps.unassignedDeadlineMs;
  }

  /**
   * The network could not do or verify the work: the chain returns the whole escrow (the worker is
   * neither paid nor slashed) and the job fails at no charge.
   */
  private async failUnverified(job: TrainingJob, task: Task, reason: UserReasonCode): Promise<void> {
    await this.deps.chain.cancel(task.id);
    await this.deps.settlement.fail(job, task.id, reason, true);
  }

  /** Hands the task to another worker, who resumes from the checkpoints stored so far. */
  private async reassign(task: Task, state: TaskView, head: number, reason?: string): Promise<void> {
    if (!this.due(task.id, "reassign", head)) return;
    const record = await this.deps.chain.reassign(task.id, state.attempt);
    const next = await this.deps.chain.taskState(task.id);
    if (record.status === "failed" || next.status !== "Assigned") {
      this.retryAt.set(`${task.id}:reassign`, head + RETRY_AFTER_BLOCKS);
      return;
    }
    await this.deps.dispatcher.queueAssigned(task.id, next);
    await this.deps.events.emit(task.jobId, "training.reassigned", {
      worker: next.worker,
      attempt: next.attempt,
      reason: reason ?? `worker ${state.worker ?? "(none)"} did not commit by block ${state.commitDeadline}`,
    });
  }

  /** Queues each audit still awaiting a verdict for the verifier the chain drew (idempotent). */
  private async queueAudits(task: Task, state: TaskView): Promise<void> {
    const pending = state.audits
      .map((audit, index) => ({ audit, index }))
      .filter((a) => a.audit.verdict === null);
    if (pending.length === 0) return;
    const { inputs } = await this.deps.dispatcher.workInputs(task);
    const stored = await this.deps.db.checkpoint.findMany({
      where: { taskId: task.id },
      orderBy: { step: "asc" },
    });
    const leaves = stored.map((c) => hex(c.sha256));
    const proven = (leafIndex: number) => ({
      step: stored[leafIndex]!.step,
      sha256: stored[leafIndex]!.sha256,
      leaf_index: leafIndex,
      proof: merkleInclusionProof(leaves, leafIndex).map((node) => Buffer.from(node).toString("hex")),
    });
    for (const { audit, index } of pending) {
      const work: AuditTask = {
        ...inputs,
        checkpoint_root: state.commitment!.root.replace(/^0x/, ""),
        tree_size: leaves.length,
        from: proven(audit.segment),
        to: proven(audit.segment + 1),
        chain: { chain_task_id: state.chainTaskId.toString(), attempt: state.attempt, audit_index: index },
      };
      await this.deps.producer.enqueueAudit(audit.verifier, work);
    }
  }

  private async settle(task: Task): Promise<void> {
    let receipt: Awaited<ReturnType<Receipts["issue"]>>;
    try {
      receipt = await this.deps.receipts.issue(task.jobId, task.id);
    } catch (error) {
      // The event journal catches up within a block or two; the next pass settles.
      if (error instanceof ReceiptError && error.code === "NOT_READY") return;
      throw error;
    }
    const settlement = await this.deps.chain.settlement(task.id);
    await this.deps.settlement.succeed(task.jobId, settlement, receipt);
  }

  private due(taskId: string, step: string, head: number): boolean {
    return head >= (this.retryAt.get(`${taskId}:${step}`) ?? 0);
  }
}
