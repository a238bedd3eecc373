// Audits of a committed task (PROTOCOL.md §5.4–5.7): verdicts, whistleblower challenges, the
// forced-error reveal, and settling each audit into a payment, a jackpot or a dispute.
import type { AccountId, DispatchContext } from "../pallet.ts";
import { EXISTENTIAL_DEPOSIT } from "./balances.ts";
import { lesser } from "./compute-amounts.ts";
import { openDispute, provesLeaf } from "./compute-disputes.ts";
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
import { getTask, requireCommitment, transcriptLayout, updateAudit } from "./compute-tasks.ts";
import type { Audit, AuditRef, Hash, TaskInfo } from "./compute-types.ts";

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

/** What a verdict carries beyond its audit's reference (PROTOCOL.md §5.4). */
export type VerdictEvidence = {
  agrees: boolean;
  transcript: Hash;
  /** The replay's end state: the transcript's last leaf. */
  endState: Hash;
  endStateProof: Hash[];
  /** The worker's committed checkpoint leaf at the segment's end. */
  leaf: Hash;
  leafProof: Hash[];
};

/**
 * Ties `agrees` to the transcript: its last leaf is the replay's end state, compared with the
 * worker's leaf for the segment's end (leaf `segment + 1` of the commitment), so a verifier cannot
 * say one thing in its transcript and the opposite in its opinion.
 */
function checkVerdictConsistency(task: TaskInfo, audit: Audit, args: VerdictEvidence): void {
  const commitment = requireCommitment(task);
  const layout = transcriptLayout(task, audit.segment);
  const endProven = provesLeaf(
    args.endState,
    layout.leaves - 1,
    layout.leaves,
    args.endStateProof,
    args.transcript,
  );
  const leafProven = provesLeaf(
    args.leaf,
    audit.segment + 1,
    commitment.checkpoints,
    args.leafProof,
    commitment.root,
  );
  ensure(endProven && leafProven, "BadProof");
  ensure(args.agrees === (args.endState === args.leaf), "InconsistentVerdict");
}

export function submitVerdict(ctx: DispatchContext, who: AccountId, args: AuditRef & VerdictEvidence): void {
  const task = auditingTask(ctx, args.taskId);
  const audit = auditOf(task, args.auditIndex);
  ensure(audit.verifier === who, "NotAuditVerifier");
  ensure(audit.verdict === null, "AlreadySubmitted");
  ensure(ctx.blockNumber <= task.verdictDeadline, "DeadlinePassed");
  checkVerdictConsistency(task, audit, args);
  updateAudit(ctx, args.taskId, args.auditIndex, {
    verdict: { agrees: args.agrees, transcript: args.transcript, at: ctx.blockNumber },
  });
  const { taskId, auditIndex, agrees, transcript, endState } = args;
  emit(ctx, "VerdictSubmitted", { taskId, auditIndex, verifier: who, agrees, transcript, endState });
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
  // A whistleblower can only show a leaf wrong: the transcript holds no other states.
  ensure(transcriptLayout(task, audit.segment).leafOf(args.firstWrongStep) !== null, "InvalidStep");
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
  // A one-leaf transcript is the end state alone: altering it would falsify the verdict's opinion.
  const forced =
    transcriptLayout(task, audit.segment).forcible &&
    isForcedError(args.secret, task.seed!, args.taskId, args.auditIndex, forcedErrorPpm);
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
