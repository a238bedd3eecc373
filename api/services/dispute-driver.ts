// The platform's part in a task's disputes (PROTOCOL.md §6-7). The parties play the pinpoint game
// themselves (worker-runtime/node/dispute-player.ts) and the referee rules; the platform keeps the
// game from stalling and carries out its outcome for the job:
//  * it claims the timeout of a party that missed its turn, so a stalled dispute ends (the party
//    loses, §6.5) instead of holding the escrow and both stakes forever;
//  * it tells the user, in words: `verification.disputed` when a dispute opens, one
//    `verification.dispute_round` per bisection, and the outcome — `verification.fraud_proven`
//    naming the losing defender's role, or `verification.dispute_rejected` when the challenger lost;
//  * when the worker lost, its attempt is void and the chain re-assigned the task: the checkpoints
//    from the first one no audit vouches for are dropped, so the next worker cannot resume from
//    forged ones, the job goes back to `running`, and the training is queued for the new worker
//    (`training.rerun`).
// Everything is derived from the event journal (dispute-journal.ts) and recorded once: each job
// event is keyed by the dispute, and an outcome's consequences are applied in the transaction
// that records it, so a pass may run again at any time, in any process, and only advance.
import type { ChainBridge, TaskView } from "../../chain-bridge/index.ts";
import type { Database } from "../../prisma/client.ts";
import type { JobEvent, Task } from "../../prisma/generated/client.ts";
import { type DisputeRecord, disputedSegment, disputesOfTask, settledOutcome } from "./dispute-journal.ts";
import type { JobDispatcher } from "./job-dispatch.ts";
import { checkpointEveryOf } from "./job-dispatch.ts";
import type { JobEvents } from "./job-events.ts";

export interface DisputeDriverDeps {
  db: Database;
  chain: ChainBridge;
  dispatcher: JobDispatcher;
  events: JobEvents;
}

const DISPUTE_EVENTS = [
  "verification.disputed",
  "verification.dispute_round",
  "verification.fraud_proven",
  "verification.dispute_rejected",
];

// A refused claim (the block the deadline passed in is not the best block everywhere yet) is
// tried again after this many blocks.
const RETRY_AFTER_BLOCKS = 3;

const disputeIdOf = (event: Pick<JobEvent, "data">) =>
  String((event.data as { dispute_id?: unknown }).dispute_id);

export class DisputeDriver {
  /** Per dispute, the block at which a refused timeout claim may be tried again. */
  private readonly retryAt = new Map<bigint, number>();
  /** Per task about to change hands, the block the event journal must reach first. */
  private readonly journalTarget = new Map<string, number>();

  constructor(private readonly deps: DisputeDriverDeps) {}

  /**
   * Claims the timeout of every open dispute of the task whose defender or challenger missed its
   * turn. True when one ended: the task's state read before is stale.
   */
  async claimTimeouts(task: Task, state: TaskView, head: number): Promise<boolean> {
    const { chain } = this.deps;
    let ended = false;
    for (const disputeId of state.disputes) {
      if (head < (this.retryAt.get(disputeId) ?? 0)) continue;
      const dispute = await chain.dispute(disputeId);
      // The referee's turn has no deadline (§6.4): only the governance origin ends it.
      if (dispute === null || dispute.turn === "Referee" || head <= dispute.deadline) continue;
      const claimed = await chain.claimTimeout(task.id, disputeId);
      if (claimed.status === "failed") this.retryAt.set(disputeId, head + RETRY_AFTER_BLOCKS);
      else ended = true;
    }
    return ended;
  }

  /**
   * Whether the event journal (finalized blocks, applied by the watcher) has reached the chain
   * state just read for the task, which is about to go to a worker. A task left by a worker that
   * lost a dispute must not be handed over before the journal shows the loss: until then its
   * forged checkpoints are still stored, and the next worker would resume from them. The target
   * is the head when first asked, so a journal that trails by a few blocks still gets there.
   */
  async journalCaughtUp(task: Task): Promise<boolean> {
    const target = this.journalTarget.get(task.id) ?? (await this.deps.chain.head());
    // The API's watcher keeps its place under the default cursor name (event-watcher.ts).
    const cursor = await this.deps.db.chainCursor.findUnique({ where: { name: "compute" } });
    // No journal kept at all (no watcher ever ran on this database): no dispute can be recorded,
    // so there is nothing to wait for.
    if (cursor === null || cursor.blockNumber >= target) {
      this.journalTarget.delete(task.id);
      return true;
    }
    this.journalTarget.set(task.id, target);
    return false;
  }

  /**
   * Records the task's disputes as the journal shows them and carries out each outcome once.
   * False while the journal trails the chain: a dispute the chain no longer holds has no outcome
   * in the journal yet. The task's state must then wait, or a worker could be handed the task
   * before the forged checkpoints are dropped.
   */
  async record(task: Task, state: TaskView): Promise<boolean> {
    if (task.chainTaskId === null) return true;
    const records = await disputesOfTask(this.deps.db, task.chainTaskId);
    if (records.length === 0) return true;
    const open = new Set(state.disputes.map(String));
    const voided = new Set(
      records
        .filter((r) => r.resolved?.loserRole === "worker" && r.kind === "commitment")
        .map((r) => r.attempt),
    );
    // Unresolved and gone from the chain: aborted when a lost dispute voided its attempt,
    // otherwise resolved in a block the journal has not reached.
    if (records.some((r) => r.resolved === null && !open.has(r.disputeId) && !voided.has(r.attempt))) {
      return false;
    }
    const recorded = await this.deps.db.jobEvent.findMany({
      where: { jobId: task.jobId, type: { in: DISPUTE_EVENTS } },
      orderBy: { id: "asc" },
    });
    for (const record of records) {
      const mine = recorded.filter((event) => disputeIdOf(event) === record.disputeId);
      const has = (type: string) => mine.some((event) => event.type === type);
      if (!has("verification.disputed")) await this.opened(task, record);
      const rounds = mine.filter((event) => event.type === "verification.dispute_round").length;
      for (const [index, round] of record.rounds.entries()) {
        if (index < rounds) continue;
        await this.deps.events.emit(task.jobId, "verification.dispute_round", {
          dispute_id: record.disputeId,
          round: index + 1,
          phase: round.phase,
          challenger_agreed: round.agreed,
          // Phase 1 narrows a range of training steps, phase 2 the operators of one step.
          narrowed_to:
            round.phase === "steps"
              ? { from_step: Number(round.lo), to_step: Number(round.hi) }
              : { from_operator: Number(round.lo), to_operator: Number(round.hi) },
          block_number: round.anchor.block_number,
        });
      }
      if (record.resolved === null && open.has(record.disputeId)) continue;
      const outcome = settledOutcome(record);
      if (outcome === "aborted") continue;
      if (has("verification.fraud_proven") || has("verification.dispute_rejected")) continue;
      if (outcome === "fraud_proven" && record.defender.role === "worker") {
        await this.workerLost(task, record);
      } else {
        await this.deps.events.emit(task.jobId, outcomeEvent(outcome), outcomeData(record));
      }
    }
    return true;
  }

  /**
   * The task's attempt after a worker lost, re-assigned by the chain inside the resolving call:
   * its training is queued for the new worker once (`training.rerun`), from the checkpoints kept.
   * A task left `Unassigned` (no other worker free) is re-assigned by the verification driver.
   */
  async rerun(task: Task, state: TaskView): Promise<void> {
    if (state.status !== "Assigned" || state.worker === null) return;
    const events = await this.deps.db.jobEvent.findMany({
      where: {
        jobId: task.jobId,
        type: { in: ["verification.fraud_proven", "training.rerun", "training.reassigned"] },
      },
    });
    const voided = events.some(
      (event) =>
        event.type === "verification.fraud_proven" &&
        (event.data as { loser?: { role?: unknown } }).loser?.role === "worker" &&
        Number((event.data as { attempt?: unknown }).attempt) < state.attempt,
    );
    // The verification driver queues the attempt itself when it re-assigned an Unassigned task.
    const queued = events.some(
      (event) =>
        event.type !== "verification.fraud_proven" &&
        Number((event.data as { attempt?: unknown }).attempt) === state.attempt,
    );
    if (!voided || queued) return;
    await this.deps.dispatcher.queueAssigned(task.id, state);
    const resumed = await this.deps.db.checkpoint.findFirst({
      where: { taskId: task.id },
      orderBy: { step: "desc" },
      select: { step: true },
    });
    await this.deps.events.emit(task.jobId, "training.rerun", {
      worker: state.worker,
      attempt: state.attempt,
      resumes_from_step: resumed?.step ?? 0,
      commit_deadline_block: state.commitDeadline,
      reason: "the previous worker's training was proven wrong; another worker trains it again",
    });
  }

  private async opened(task: Task, record: DisputeRecord): Promise<void> {
    const segment = await this.segmentOf(task, record);
    await this.deps.events.emit(task.jobId, "verification.disputed", {
      dispute_id: record.disputeId,
      kind: record.kind,
      attempt: record.attempt,
      challenger: record.challenger,
      defender: record.defender,
      // What the challenger says is wrong: the worker's checkpoint at the segment's end, or the
      // verifier's replay of the segment.
      claim:
        record.kind === "commitment"
          ? `the ${record.challenger.role} says the worker's checkpoint after step ${segment.to_step} is not what training from step ${segment.from_step} gives`
          : `the ${record.challenger.role} says the verifier's replay of steps ${segment.from_step}-${segment.to_step} is wrong`,
      segment,
      block_number: record.opened.block_number,
    });
  }

  /** The audited segment the dispute is about, in steps. */
  private async segmentOf(task: Task, record: DisputeRecord) {
    const job = await this.deps.db.trainingJob.findUniqueOrThrow({ where: { id: task.jobId } });
    const steps = task.committedSteps === null ? job.totalSteps : Number(task.committedSteps);
    return disputedSegment(this.deps.db, task.id, record, checkpointEveryOf(job), steps);
  }

  /**
   * The worker lost: in one transaction the outcome is recorded, the checkpoints no audit vouches
   * for are dropped, and the job goes back to training. Then the new worker's training is queued.
   */
  private async workerLost(task: Task, record: DisputeRecord): Promise<void> {
    const { db, events } = this.deps;
    const segment = await this.segmentOf(task, record);
    const firstBad = await this.firstUnvouchedStep(task, record, segment.to_step);
    const event = await db.$transaction(async (tx) => {
      const dropped = await tx.checkpoint.deleteMany({
        where: { taskId: task.id, step: { gte: firstBad, gt: 0 } },
      });
      await tx.trainingJob.updateMany({
        where: { id: task.jobId, status: { in: ["verifying", "running"] } },
        data: { status: "running", resultSha256: null },
      });
      return events.record(
        task.jobId,
        "verification.fraud_proven",
        {
          ...outcomeData(record),
          checkpoints_dropped_from_step: firstBad,
          checkpoints_dropped: dropped.count,
        },
        tx,
      );
    });
    await events.publish(task.jobId, event);
    const row = await db.task.findUniqueOrThrow({ where: { id: task.id } });
    await this.rerun(row, await this.deps.chain.taskState(task.id));
  }

  /**
   * The step of the first checkpoint of the voided attempt that no audit vouches for: leaf 0 is
   * the platform's own; a later leaf is vouched for only when the leaf before it is and an audit
   * of the segment between them passed. The disputed segment's end is never vouched for, and a
   * forged checkpoint before it may have been the agreed start of that very dispute, so nothing
   * from the first unvouched leaf on is kept.
   */
  private async firstUnvouchedStep(task: Task, record: DisputeRecord, disputedEnd: number): Promise<number> {
    const job = await this.deps.db.trainingJob.findUniqueOrThrow({ where: { id: task.jobId } });
    const interval = checkpointEveryOf(job);
    const passed = new Set(
      (
        await this.deps.db.taskAudit.findMany({
          // Passed alone is not enough: an audit that disagreed and opened the dispute is
          // `Passed` too (its verifier did its duty); only an agreeing replay vouches.
          where: { taskId: task.id, attempt: record.attempt, outcome: "passed", agrees: true },
          select: { segment: true },
        })
      ).map((audit) => audit.segment),
    );
    let segment = 0;
    while (passed.has(segment) && (segment + 1) * interval < disputedEnd) segment += 1;
    return Math.min((segment + 1) * interval, disputedEnd);
  }
}

function outcomeEvent(outcome: "fraud_proven" | "challenge_rejected"): string {
  return outcome === "fraud_proven" ? "verification.fraud_proven" : "verification.dispute_rejected";
}

/** The outcome in words: who lost, in which role, decided how. No amounts: stakes are tokens. */
function outcomeData(record: DisputeRecord): Record<string, unknown> {
  const resolved = record.resolved!;
  const winnerRole =
    resolved.loser === record.defender.address ? record.challenger.role : record.defender.role;
  return {
    dispute_id: record.disputeId,
    kind: record.kind,
    attempt: record.attempt,
    loser: { role: resolved.loserRole, address: resolved.loser },
    winner: { role: winnerRole, address: resolved.winner },
    decided_by: resolved.by,
    rounds: record.rounds.length,
    ...(record.step === null ? {} : { disputed_step: Number(record.step) }),
    ...(record.operator === null ? {} : { disputed_operator: record.operator }),
    consequence:
      resolved.loserRole === "worker"
        ? "the worker is slashed and not paid; its attempt is void and another worker trains the job again, at no extra cost to you"
        : resolved.loserRole === "verifier"
          ? "the verifier is slashed and not paid for its audit"
          : "the whistleblower loses its bond",
    block_number: resolved.anchor.block_number,
  };
}
