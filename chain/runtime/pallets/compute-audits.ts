// Audits of a committed task (PROTOCOL.md §5.4–5.7): verdicts, whistleblower challenges, the
// forced-error reveal, and settling each audit into a payment, a jackpot or a dispute.
import type { AccountId, DispatchContext } from "../pallet.ts";
import { EXISTENTIAL_DEPOSIT } from "./balances.ts";
import { lesser } from "./compute-amounts.ts";
import { openDispute } from "./compute-disputes.ts";
import { computeError, ensure } from "./compute-errors.ts";
import { emit } from "./compute-events.ts";
import { isForcedError, opensCommitment } from "./compute-hashing.ts";
import {
  changeDuties,
  getNode,
  isEligible,
  JACKPOT_ACCOUNT,
  reserveFunds,
  rotateCommitment,
  slashStake,
} from "./compute-stake.ts";
import { parameters, tasks } from "./compute-storage.ts";
import { getTask, requireCommitment, segmentBounds, updateAudit } from "./compute-tasks.ts";
import type { Audit, Hash, TaskInfo } from "./compute-types.ts";

function auditOf(task: TaskInfo, auditIndex: number): Audit {
  const audit = task.audits[auditIndex];
  if (audit === undefined) throw computeError("UnknownAudit");
  return audit;
}

function auditingTask(ctx: DispatchContext, taskId: bigint): TaskInfo {
  const task = getTask(ctx, taskId);
  ensure(task.status === "Auditing", "WrongTaskStatus");
  return task;
}

export function submitVerdict(
  ctx: DispatchContext,
  who: AccountId,
  args: { taskId: bigint; auditIndex: number; agrees: boolean; transcript: Hash },
): void {
  const task = auditingTask(ctx, args.taskId);
  const audit = auditOf(task, args.auditIndex);
  ensure(audit.verifier === who, "NotAuditVerifier");
  ensure(audit.verdict === null, "AlreadySubmitted");
  ensure(ctx.blockNumber <= task.verdictDeadline, "DeadlinePassed");
  updateAudit(ctx, args.taskId, args.auditIndex, {
    verdict: { agrees: args.agrees, transcript: args.transcript, at: ctx.blockNumber },
  });
  emit(ctx, "VerdictSubmitted", { ...args, verifier: who });
}

export function challenge(
  ctx: DispatchContext,
  who: AccountId,
  args: { taskId: bigint; auditIndex: number; firstWrongStep: bigint },
): void {
  const params = parameters.get(ctx);
  ensure(isEligible(getNode(ctx, who), "whistleblower", params), "NotEligible");
  const task = auditingTask(ctx, args.taskId);
  const audit = auditOf(task, args.auditIndex);
  ensure(who !== task.worker && who !== audit.verifier, "ConflictOfInterest");
  ensure(audit.verdict !== null, "NoVerdict");
  ensure(audit.challenger === null, "AlreadyChallenged");
  ensure(ctx.blockNumber <= task.challengeEnd, "DeadlinePassed");
  const [start, end] = segmentBounds(task.spec, requireCommitment(task), audit.segment);
  ensure(args.firstWrongStep > start && args.firstWrongStep <= end, "InvalidStep");
  reserveFunds(ctx, who, params.challengeBond);
  changeDuties(ctx, who, "whistleblower", 1);
  updateAudit(ctx, args.taskId, args.auditIndex, {
    challenger: { who, firstWrongStep: args.firstWrongStep, bond: params.challengeBond },
  });
  emit(ctx, "Challenged", { ...args, whistleblower: who });
}

export function reveal(
  ctx: DispatchContext,
  who: AccountId,
  args: { taskId: bigint; auditIndex: number; secret: Hash; nextCommitment: Hash },
): void {
  const task = auditingTask(ctx, args.taskId);
  const audit = auditOf(task, args.auditIndex);
  ensure(audit.verifier === who, "NotAuditVerifier");
  ensure(audit.verdict !== null, "NoVerdict");
  ensure(ctx.blockNumber > task.challengeEnd, "RevealTooEarly");
  ensure(ctx.blockNumber <= task.revealEnd, "DeadlinePassed");
  ensure(!audit.settled, "AlreadySettled");
  ensure(opensCommitment(args.secret, audit.commitment), "BadReveal");
  const { forcedErrorPpm } = parameters.get(ctx);
  const forced = isForcedError(args.secret, task.seed!, args.taskId, args.auditIndex, forcedErrorPpm);
  rotateCommitment(ctx, who, args.nextCommitment);
  emit(ctx, "Revealed", { taskId: args.taskId, auditIndex: args.auditIndex, forced });
  settleAudit(ctx, args.taskId, args.auditIndex, forced);
}

/** Pays the jackpot for a caught forced error, never taking the pot below the existential deposit. */
function payJackpot(
  ctx: DispatchContext,
  taskId: bigint,
  auditIndex: number,
  whistleblower: AccountId,
): void {
  const available = ctx.currency.free(JACKPOT_ACCOUNT) - EXISTENTIAL_DEPOSIT;
  const payout = parameters.get(ctx).jackpotPayout;
  const amount = lesser(available, payout);
  if (amount <= 0n) return;
  ctx.currency.transfer(JACKPOT_ACCOUNT, whistleblower, amount, "keepAlive");
  emit(ctx, "JackpotPaid", { taskId, auditIndex, whistleblower, amount });
}

/**
 * Settles one audit (PROTOCOL.md §5.7). `forced` is null when the verifier did not reveal in time:
 * it is then timeout-slashed and its verdict is judged as a real one.
 */
function settleAudit(ctx: DispatchContext, taskId: bigint, auditIndex: number, forced: boolean | null): void {
  const audit = auditOf(getTask(ctx, taskId), auditIndex);
  if (forced === null) slashStake(ctx, audit.verifier, "verifier", "Timeout", null);
  const outcome = forced === null ? "Failed" : "Passed";
  updateAudit(ctx, taskId, auditIndex, { forced, settled: true, outcome });
  changeDuties(ctx, audit.verifier, "verifier", -1);
  emit(ctx, "AuditSettled", { taskId, auditIndex, outcome });
  if (audit.verdict === null) return;
  if (audit.challenger !== null) {
    if (forced === true) {
      payJackpot(ctx, taskId, auditIndex, audit.challenger.who);
      ctx.currency.unreserve(audit.challenger.who, audit.challenger.bond);
      changeDuties(ctx, audit.challenger.who, "whistleblower", -1);
    } else {
      openDispute(ctx, taskId, auditIndex, "Transcript");
    }
  }
  if (!audit.verdict.agrees) openDispute(ctx, taskId, auditIndex, "Commitment");
}

export function closeAudits(ctx: DispatchContext, taskId: bigint): void {
  const task = auditingTask(ctx, taskId);
  ensure(ctx.blockNumber > task.revealEnd, "TooEarly");
  task.audits.forEach((audit, auditIndex) => {
    if (!audit.settled) settleAudit(ctx, taskId, auditIndex, null);
  });
  tasks.set(ctx, taskId, { ...getTask(ctx, taskId), status: "Closed" });
  emit(ctx, "AuditsClosed", { taskId });
}
