// A task's life outside audits and disputes (PROTOCOL.md §5.1–5.3, §7, §9): escrow, worker
// selection and re-assignment, the checkpoint commit, audit selection, finalization, cancellation.
import { TranscriptLayout } from "../../../protocol/transcript.ts";
import type { AccountId, DispatchContext } from "../pallet.ts";
import { lesser, percentOf } from "./compute-amounts.ts";
import { computeError, ensure } from "./compute-errors.ts";
import { emit } from "./compute-events.ts";
import { RandomStream, taskSeed } from "./compute-hashing.ts";
import {
  canReceive,
  changeDuties,
  eligibleNodes,
  getNode,
  JACKPOT_ACCOUNT,
  reserveFunds,
  slashStake,
  takeAudit,
} from "./compute-stake.ts";
import { nextTaskId, parameters, tasks } from "./compute-storage.ts";
import type { Audit, Commitment, Hash, TaskInfo, TaskSpec } from "./compute-types.ts";

export function getTask(ctx: DispatchContext, taskId: bigint): TaskInfo {
  const task = tasks.get(ctx, taskId);
  if (task === undefined) throw computeError("UnknownTask");
  return task;
}

export function updateAudit(
  ctx: DispatchContext,
  taskId: bigint,
  auditIndex: number,
  change: Partial<Audit>,
): void {
  const task = getTask(ctx, taskId);
  const audits = task.audits.map((audit, i) => (i === auditIndex ? { ...audit, ...change } : audit));
  tasks.set(ctx, taskId, { ...task, audits });
}

/** Steps [start, end] of segment `segment` of a commitment. */
export function segmentBounds(spec: TaskSpec, commitment: Commitment, segment: number): [bigint, bigint] {
  const start = BigInt(segment) * spec.checkpointInterval;
  return [start, lesser(start + spec.checkpointInterval, commitment.steps)];
}

/** The strided transcript of an audited segment, with the stride recorded when the audits were drawn. */
export function transcriptLayout(task: TaskInfo, segment: number): TranscriptLayout {
  const [start, end] = segmentBounds(task.spec, requireCommitment(task), segment);
  return new TranscriptLayout(start, end, BigInt(task.transcriptStride));
}

export function requireCommitment(task: TaskInfo): Commitment {
  if (task.commitment === null) throw computeError("WrongTaskStatus");
  return task.commitment;
}

/**
 * Draws the next worker (excluding the submitter and failed workers) or leaves the task unassigned.
 * The first draw fixes the task's profile; a later worker must share it, because it resumes from
 * checkpoints a worker of that profile made. With none free the task waits `Unassigned`.
 */
export function assignWorker(ctx: DispatchContext, taskId: bigint, task: TaskInfo): TaskInfo {
  const profile = task.spec.profile ?? task.profile;
  const candidates = eligibleNodes(ctx, "worker", profile, [task.submitter, ...task.excluded]);
  if (candidates.length === 0) {
    emit(ctx, "TaskUnassigned", { taskId });
    return { ...task, status: "Unassigned", worker: null };
  }
  const worker =
    candidates[new RandomStream(taskSeed(ctx, "vt/worker", taskId, task.attempt)).below(candidates.length)]!;
  changeDuties(ctx, worker, "worker", 1);
  const commitDeadline = ctx.blockNumber + parameters.get(ctx).commitBlocks;
  emit(ctx, "WorkerAssigned", { taskId, worker, attempt: task.attempt, commitDeadline });
  return { ...task, status: "Assigned", worker, commitDeadline, profile: getNode(ctx, worker).profile };
}

/** Starts a new attempt after the worker failed: its work is void, the escrow stays. */
export function restartAttempt(
  ctx: DispatchContext,
  taskId: bigint,
  task: TaskInfo,
  failedWorker: AccountId,
): void {
  changeDuties(ctx, failedWorker, "worker", -1);
  const cleared: TaskInfo = {
    ...task,
    attempt: task.attempt + 1,
    excluded: [...task.excluded, failedWorker],
    ...freshAttempt(),
  };
  tasks.set(ctx, taskId, assignWorker(ctx, taskId, cleared));
}

/** What an attempt starts without: no commitment, no audit round, no dispute, no deadlines past assignment. */
function freshAttempt(): Pick<
  TaskInfo,
  | "commitment"
  | "seed"
  | "transcriptStride"
  | "verdictDeadline"
  | "challengeEnd"
  | "revealEnd"
  | "audits"
  | "disputes"
  | "delivery"
> {
  return {
    commitment: null,
    seed: null,
    transcriptStride: 0,
    verdictDeadline: 0,
    challengeEnd: 0,
    revealEnd: 0,
    audits: [],
    disputes: [],
    delivery: null,
  };
}

function validSpec(spec: TaskSpec, maxVerificationLevel: number): boolean {
  return (
    spec.maxSteps >= 1n &&
    spec.checkpointInterval >= 1n &&
    spec.checkpointInterval <= spec.maxSteps &&
    spec.graphNodes >= 1 &&
    spec.verificationLevel <= maxVerificationLevel
  );
}

export function createTask(
  ctx: DispatchContext,
  submitter: AccountId,
  args: { spec: TaskSpec; price: bigint },
): void {
  ensure(validSpec(args.spec, parameters.get(ctx).maxVerificationLevel), "InvalidSpec");
  ensure(args.price > 0n, "ZeroAmount");
  const taskId = nextTaskId.get(ctx);
  const draft: TaskInfo = {
    submitter,
    spec: args.spec,
    price: args.price,
    status: "Unassigned",
    worker: null,
    attempt: 0,
    excluded: [],
    profile: null,
    commitDeadline: 0,
    ...freshAttempt(),
    payout: null,
  };
  reserveFunds(ctx, submitter, args.price);
  emit(ctx, "TaskCreated", { taskId, submitter, price: args.price });
  const task = assignWorker(ctx, taskId, draft);
  // A submitter never pays for a task that cannot start: failing here drops the reservation too.
  ensure(task.status === "Assigned", "NoEligibleWorker");
  tasks.set(ctx, taskId, task);
  nextTaskId.set(ctx, taskId + 1n);
}

function expectedCheckpoints(steps: bigint, interval: bigint): bigint {
  return (steps + interval - 1n) / interval + 1n;
}

export function commit(
  ctx: DispatchContext,
  who: AccountId,
  args: { taskId: bigint; root: Hash; checkpoints: number; steps: bigint; result: Hash },
): void {
  const task = getTask(ctx, args.taskId);
  ensure(task.status === "Assigned", "WrongTaskStatus");
  ensure(task.worker === who, "NotAssignedWorker");
  ensure(ctx.blockNumber <= task.commitDeadline, "DeadlinePassed");
  ensure(
    args.steps >= 1n &&
      args.steps <= task.spec.maxSteps &&
      BigInt(args.checkpoints) === expectedCheckpoints(args.steps, task.spec.checkpointInterval),
    "InvalidCommit",
  );
  const commitment: Commitment = {
    root: args.root,
    checkpoints: args.checkpoints,
    steps: args.steps,
    result: args.result,
    committedAt: ctx.blockNumber,
  };
  tasks.set(ctx, args.taskId, { ...task, status: "Committed", commitment });
  emit(ctx, "CheckpointsCommitted", {
    taskId: args.taskId,
    worker: who,
    root: args.root,
    checkpoints: args.checkpoints,
    steps: args.steps,
    result: args.result,
  });
}

/** Closed with every audit failed: the work was never checked, so it may be audited again or cancelled. */
function nothingVerified(task: TaskInfo): boolean {
  return (
    task.status === "Closed" &&
    task.spec.verificationLevel > 0 &&
    task.disputes.length === 0 &&
    task.audits.every((audit) => audit.outcome === "Failed")
  );
}

/** A delivery challenge the referee has not ruled on: it holds the task until ruled or lapsed (§7). */
export function deliveryOpen(task: TaskInfo): boolean {
  return task.delivery !== null && task.delivery.ruling === null;
}

/**
 * Committed, audits not drawn and the delivery window (`commit_blocks` after the commit) over:
 * nothing was verified, so the submitter may cancel without accusing anybody (an open delivery
 * challenge ends through its ruling or lapse first).
 */
function deliveryMissed(ctx: DispatchContext, task: TaskInfo): boolean {
  return (
    task.status === "Committed" &&
    ctx.blockNumber > requireCommitment(task).committedAt + parameters.get(ctx).commitBlocks
  );
}

export function selectAudits(ctx: DispatchContext, taskId: bigint): void {
  const task = getTask(ctx, taskId);
  ensure(task.status === "Committed" || nothingVerified(task), "WrongTaskStatus");
  ensure(!deliveryOpen(task), "DeliveryUnsettled");
  const commitment = requireCommitment(task);
  const params = parameters.get(ctx);
  ensure(ctx.blockNumber >= commitment.committedAt + params.auditDelayBlocks, "TooEarly");
  ensure(task.spec.verificationLevel > 0, "NothingToAudit");
  // A new round after every verifier missed its window goes to other verifiers. Only a verifier of
  // the worker's profile can replay its checkpoints bit for bit; any other would disagree honestly.
  const missed = task.audits.map((audit) => audit.verifier);
  const verifiers = eligibleNodes(ctx, "verifier", task.profile, [task.submitter, task.worker!, ...missed]);
  ensure(verifiers.length > 0, "NoEligibleVerifier");
  const segments = commitment.checkpoints - 1;
  const count = Math.min(task.spec.verificationLevel, segments, verifiers.length);
  const seed = taskSeed(ctx, "vt/audits", taskId, task.attempt);
  const draws = new RandomStream(seed);
  const chosenSegments = draws.distinct(count, segments);
  const chosenVerifiers = draws.distinct(count, verifiers.length);
  const audits: Audit[] = chosenSegments.map((segment, i) => {
    const verifier = verifiers[chosenVerifiers[i]!]!;
    const commitment = takeAudit(ctx, verifier);
    emit(ctx, "AuditAssigned", { taskId, auditIndex: i, segment, verifier });
    return {
      segment,
      verifier,
      commitment,
      verdict: null,
      challenger: null,
      forced: null,
      outcome: "Pending",
      settled: false,
    };
  });
  const verdictDeadline = ctx.blockNumber + params.verdictBlocks;
  const challengeEnd = verdictDeadline + params.challengeBlocks;
  tasks.set(ctx, taskId, {
    ...task,
    status: "Auditing",
    seed,
    transcriptStride: params.transcriptStride,
    audits,
    verdictDeadline,
    challengeEnd,
    revealEnd: challengeEnd + params.revealBlocks,
  });
  emit(ctx, "AuditsSelected", { taskId, seed, count });
}

export function reassignTask(ctx: DispatchContext, taskId: bigint): void {
  const task = getTask(ctx, taskId);
  if (task.status === "Unassigned") {
    tasks.set(ctx, taskId, assignWorker(ctx, taskId, { ...task, attempt: task.attempt + 1 }));
    return;
  }
  // An undelivered commit is challenged (challenge_delivery), never voided here: only the referee
  // can tell a worker that withholds its checkpoints from one that delivered them.
  ensure(task.status === "Assigned", "WrongTaskStatus");
  ensure(ctx.blockNumber > task.commitDeadline, "TooEarly");
  slashStake(ctx, task.worker!, "worker", "Timeout", null);
  restartAttempt(ctx, taskId, task, task.worker!);
}

export function finalize(ctx: DispatchContext, taskId: bigint): void {
  const task = getTask(ctx, taskId);
  const level = task.spec.verificationLevel;
  ensure(task.status === "Closed" || (task.status === "Committed" && level === 0), "WrongTaskStatus");
  ensure(task.disputes.length === 0, "OpenDisputes");
  ensure(!deliveryOpen(task), "DeliveryUnsettled");
  const commitment = requireCommitment(task);
  const worker = task.worker!;
  const params = parameters.get(ctx);
  const cost = (task.price * commitment.steps) / task.spec.maxSteps;
  const tax = percentOf(cost, params.jackpotTaxPercent);
  // A tax too small to open the jackpot account stays with the submitter.
  const jackpot = canReceive(ctx, JACKPOT_ACCOUNT, tax) ? tax : 0n;
  const perAudit = level === 0 ? 0n : percentOf(cost, params.verifierSharePercent) / BigInt(level);
  const paid = task.audits.filter((audit) => audit.outcome === "Passed");
  const workerPay = cost - tax - BigInt(level) * perAudit;
  const verifiers = BigInt(paid.length) * perAudit;
  const refund = task.price - workerPay - jackpot - verifiers;
  const payments: Array<[AccountId, bigint]> = [
    [worker, workerPay],
    [JACKPOT_ACCOUNT, jackpot],
    ...paid.map((audit): [AccountId, bigint] => [audit.verifier, perAudit]),
  ];
  for (const [recipient, amount] of payments) {
    if (amount > 0n) ctx.currency.repatriateReserved(task.submitter, recipient, amount, "free");
  }
  ctx.currency.unreserve(task.submitter, refund);
  changeDuties(ctx, worker, "worker", -1);
  tasks.set(ctx, taskId, {
    ...task,
    status: "Finalized",
    payout: { worker: workerPay, verifiers, jackpot, refund },
  });
  emit(ctx, "TaskFinalized", { taskId, workerPay, verifierPay: verifiers, jackpotTax: jackpot, refund });
}

export function cancelTask(ctx: DispatchContext, who: AccountId, taskId: bigint): void {
  const task = getTask(ctx, taskId);
  ensure(task.submitter === who, "NotSubmitter");
  ensure(!deliveryOpen(task), "DeliveryUnsettled");
  const cancellable =
    task.status === "Assigned" ||
    task.status === "Unassigned" ||
    deliveryMissed(ctx, task) ||
    nothingVerified(task);
  ensure(cancellable, "NotCancellable");
  ctx.currency.unreserve(who, task.price);
  if (task.worker !== null) changeDuties(ctx, task.worker, "worker", -1);
  tasks.set(ctx, taskId, { ...task, status: "Cancelled", worker: null });
  emit(ctx, "TaskCancelled", { taskId, refund: task.price });
}
