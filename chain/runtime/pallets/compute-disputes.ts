// The two-phase pinpoint game (PROTOCOL.md §6): opening claims bound to a Merkle root, bisection
// over the steps of a segment, then over the operators of one step, the referee's ruling, deadlines,
// and what winning and losing cost.
import { hexToU8a } from "@polkadot/util";
import { verifyMerkleInclusion } from "../../../protocol/merkle.ts";
import { type AccountId, type DispatchContext, ensureRoot, type Origin } from "../pallet.ts";
import { computeError, ensure } from "./compute-errors.ts";
import { emit } from "./compute-events.ts";
import { cumulativeNext, cumulativeStart } from "./compute-hashing.ts";
import { changeDuties, slashChallengeBond, slashStake } from "./compute-stake.ts";
import { disputes, nextDisputeId, parameters, tasks } from "./compute-storage.ts";
import {
  getTask,
  requireCommitment,
  restartAttempt,
  segmentBounds,
  transcriptLayout,
  updateAudit,
} from "./compute-tasks.ts";
import {
  type Challenge,
  type Dispute,
  type DisputeKind,
  type Hash,
  type ResolvedBy,
  type Role,
  type TaskInfo,
  ZERO_HASH,
} from "./compute-types.ts";

/** Deeper than any tree of up to 2^64 leaves: longer proofs are refused before any hashing. */
export const MAX_PROOF_LENGTH = 64;

const partyRoles = {
  Commitment: { challenger: "verifier", defender: "worker" },
  Transcript: { challenger: "whistleblower", defender: "verifier" },
} as const satisfies Record<DisputeKind, { challenger: Role; defender: Role }>;

function getDispute(ctx: DispatchContext, disputeId: bigint): Dispute {
  const dispute = disputes.get(ctx, disputeId);
  if (dispute === undefined) throw computeError("UnknownDispute");
  return dispute;
}

/** Transcript disputes exist only for challenged audits, so the challenge is there. */
function challengeOf(task: TaskInfo, auditIndex: number): Challenge {
  return task.audits[auditIndex]!.challenger!;
}

export function openDispute(
  ctx: DispatchContext,
  taskId: bigint,
  auditIndex: number,
  kind: DisputeKind,
): void {
  const task = getTask(ctx, taskId);
  const audit = task.audits[auditIndex]!;
  const [segmentStart, segmentEnd] = segmentBounds(task.spec, requireCommitment(task), audit.segment);
  const challenger = kind === "Commitment" ? audit.verifier : challengeOf(task, auditIndex).who;
  const defender = kind === "Commitment" ? task.worker! : audit.verifier;
  const hi = kind === "Commitment" ? segmentEnd : challengeOf(task, auditIndex).firstWrongStep;
  const disputeId = nextDisputeId.get(ctx);
  nextDisputeId.set(ctx, disputeId + 1n);
  disputes.set(ctx, disputeId, {
    taskId,
    attempt: task.attempt,
    auditIndex,
    kind,
    challenger,
    defender,
    phase: "Opening",
    segmentStart,
    segmentEnd,
    lo: segmentStart,
    hi,
    step: 0n,
    stateClaim: ZERO_HASH,
    cumulativeLo: ZERO_HASH,
    cumulativeHi: ZERO_HASH,
    pending: null,
    turn: "Defender",
    deadline: ctx.blockNumber + parameters.get(ctx).roundBlocks,
    claim: null,
  });
  // The whistleblower's duty was opened by its challenge and lasts until the dispute ends.
  if (kind === "Commitment") changeDuties(ctx, challenger, partyRoles[kind].challenger, 1);
  changeDuties(ctx, defender, partyRoles[kind].defender, 1);
  tasks.set(ctx, taskId, { ...getTask(ctx, taskId), disputes: [...task.disputes, disputeId] });
  emit(ctx, "DisputeOpened", { disputeId, taskId, auditIndex, kind, challenger, defender });
}

/** Whether `leaf` is leaf `index` of the `treeSize`-leaf RFC 6962 tree under `root`, by a bounded proof. */
export function provesLeaf(leaf: Hash, index: number, treeSize: number, proof: Hash[], root: Hash): boolean {
  return (
    proof.length <= MAX_PROOF_LENGTH &&
    verifyMerkleInclusion({
      leaf: hexToU8a(leaf),
      index,
      treeSize,
      proof: proof.map((sibling) => hexToU8a(sibling)),
      root: hexToU8a(root),
    })
  );
}

/** The defender's claim about the state after `step`, checked against the root it is bound to. */
function provesState(
  ctx: DispatchContext,
  dispute: Dispute,
  step: bigint,
  hash: Hash,
  proof: Hash[],
): boolean {
  const task = getTask(ctx, dispute.taskId);
  const audit = task.audits[dispute.auditIndex]!;
  if (dispute.kind === "Transcript") {
    const layout = transcriptLayout(task, audit.segment);
    const index = layout.leafOf(step);
    // Inside one stride window no leaf covers the state: the answer is bound by the game, as a worker's is.
    if (index === null) return proof.length === 0;
    return provesLeaf(hash, index, layout.leaves, proof, audit.verdict!.transcript);
  }
  // A worker commits checkpoints only: its answers inside a segment are bound by the game itself.
  if (step !== dispute.segmentEnd) return proof.length === 0;
  const commitment = requireCommitment(task);
  return provesLeaf(hash, audit.segment + 1, commitment.checkpoints, proof, commitment.root);
}

/**
 * The position the defender answers next. Phase 1 of a transcript dispute bisects the transcript's
 * leaves first and the steps of the last stride window after; everything else bisects plainly.
 */
function midpoint(ctx: DispatchContext, dispute: Dispute): bigint {
  if (dispute.phase === "Steps" && dispute.kind === "Transcript") {
    const task = getTask(ctx, dispute.taskId);
    return transcriptLayout(task, task.audits[dispute.auditIndex]!.segment).bisectionPoint(
      dispute.lo,
      dispute.hi,
    );
  }
  return (dispute.lo + dispute.hi) / 2n;
}

function nextTurn(ctx: DispatchContext, dispute: Dispute, change: Partial<Dispute>): Dispute {
  return { ...dispute, ...change, deadline: ctx.blockNumber + parameters.get(ctx).roundBlocks };
}

/** Phase 1 is over: bisect the operators of the disputed step, with the checkpoint assembly as node N. */
function enterOperators(ctx: DispatchContext, disputeId: bigint, dispute: Dispute): Dispute {
  const { spec } = getTask(ctx, dispute.taskId);
  emit(ctx, "DisputeNarrowedToStep", { disputeId, step: dispute.hi });
  return nextTurn(ctx, dispute, {
    phase: "Operators",
    step: dispute.hi,
    lo: 0n,
    hi: BigInt(spec.graphNodes) + 1n,
    cumulativeLo: cumulativeStart(dispute.hi),
    cumulativeHi: ZERO_HASH,
    turn: "Defender",
  });
}

function claimIsConsistent(ctx: DispatchContext, dispute: Dispute, output: Hash): boolean {
  const { spec } = getTask(ctx, dispute.taskId);
  if (dispute.hi <= BigInt(spec.graphNodes))
    return cumulativeNext(dispute.cumulativeLo, output) === dispute.cumulativeHi;
  return output === dispute.stateClaim;
}

export function respond(
  ctx: DispatchContext,
  who: AccountId,
  args: { disputeId: bigint; hash: Hash; proof: Hash[] },
): void {
  const dispute = getDispute(ctx, args.disputeId);
  ensure(dispute.turn === "Defender" && dispute.defender === who, "NotYourTurn");
  ensure(ctx.blockNumber <= dispute.deadline, "DeadlinePassed");
  ensure(args.proof.length <= MAX_PROOF_LENGTH, "BadProof");
  let position: bigint;
  let next: Dispute;
  switch (dispute.phase) {
    case "Opening":
      position = dispute.hi;
      ensure(provesState(ctx, dispute, position, args.hash, args.proof), "BadProof");
      next =
        dispute.hi - dispute.lo === 1n
          ? enterOperators(ctx, args.disputeId, { ...dispute, stateClaim: args.hash })
          : nextTurn(ctx, dispute, { phase: "Steps", stateClaim: args.hash });
      break;
    case "Steps":
      position = midpoint(ctx, dispute);
      ensure(provesState(ctx, dispute, position, args.hash, args.proof), "BadProof");
      next = nextTurn(ctx, dispute, { pending: args.hash, turn: "Challenger" });
      break;
    case "Operators":
      position = midpoint(ctx, dispute);
      ensure(args.proof.length === 0, "BadProof");
      next = nextTurn(ctx, dispute, { pending: args.hash, turn: "Challenger" });
      break;
    default:
      position = dispute.lo;
      ensure(args.proof.length === 0, "BadProof");
      ensure(claimIsConsistent(ctx, dispute, args.hash), "InconsistentClaim");
      next = { ...dispute, phase: "Referee", turn: "Referee", claim: args.hash };
  }
  disputes.set(ctx, args.disputeId, next);
  emit(ctx, "DisputeResponded", { disputeId: args.disputeId, position, hash: args.hash });
}

export function bisect(
  ctx: DispatchContext,
  who: AccountId,
  args: { disputeId: bigint; agree: boolean },
): void {
  const dispute = getDispute(ctx, args.disputeId);
  ensure(dispute.turn === "Challenger" && dispute.challenger === who, "NotYourTurn");
  ensure(ctx.blockNumber <= dispute.deadline, "DeadlinePassed");
  const mid = midpoint(ctx, dispute);
  const answer = dispute.pending!;
  const inSteps = dispute.phase === "Steps";
  const narrowed: Dispute = args.agree
    ? { ...dispute, lo: mid, pending: null, ...(inSteps ? {} : { cumulativeLo: answer }) }
    : {
        ...dispute,
        hi: mid,
        pending: null,
        ...(inSteps ? { stateClaim: answer } : { cumulativeHi: answer }),
      };
  emit(ctx, "DisputeBisected", {
    disputeId: args.disputeId,
    agree: args.agree,
    lo: narrowed.lo,
    hi: narrowed.hi,
  });
  let next: Dispute;
  if (narrowed.hi - narrowed.lo > 1n) {
    next = nextTurn(ctx, narrowed, { turn: "Defender" });
  } else if (inSteps) {
    next = enterOperators(ctx, args.disputeId, narrowed);
  } else {
    emit(ctx, "DisputeNarrowedToOperator", {
      disputeId: args.disputeId,
      step: narrowed.step,
      node: Number(narrowed.lo),
    });
    next = nextTurn(ctx, narrowed, { phase: "Claim", turn: "Defender" });
  }
  disputes.set(ctx, args.disputeId, next);
}

export function claimTimeout(ctx: DispatchContext, disputeId: bigint): void {
  const dispute = getDispute(ctx, disputeId);
  ensure(dispute.turn !== "Referee", "NotYourTurn");
  ensure(ctx.blockNumber > dispute.deadline, "TooEarly");
  resolve(ctx, disputeId, dispute, dispute.turn === "Challenger", "Timeout");
}

export function resolveDispute(
  ctx: DispatchContext,
  origin: Origin,
  args: { disputeId: bigint; output: Hash },
): void {
  ensureRoot(origin);
  const dispute = getDispute(ctx, args.disputeId);
  ensure(dispute.turn === "Referee", "NotYourTurn");
  resolve(ctx, args.disputeId, dispute, args.output === dispute.claim, "Referee");
}

/** Ends a dispute without a loser, when the attempt it belongs to was voided by another one. */
function abortDispute(ctx: DispatchContext, disputeId: bigint, dispute: Dispute, task: TaskInfo): void {
  if (dispute.kind === "Transcript") {
    ctx.currency.unreserve(dispute.challenger, challengeOf(task, dispute.auditIndex).bond);
  }
  changeDuties(ctx, dispute.challenger, partyRoles[dispute.kind].challenger, -1);
  changeDuties(ctx, dispute.defender, partyRoles[dispute.kind].defender, -1);
  disputes.remove(ctx, disputeId);
}

/** The worker lost: its attempt is void, every open audit and dispute of it ends, the task restarts. */
function voidAttempt(ctx: DispatchContext, taskId: bigint, worker: AccountId): void {
  const task = getTask(ctx, taskId);
  for (const disputeId of task.disputes) abortDispute(ctx, disputeId, getDispute(ctx, disputeId), task);
  for (const audit of task.audits) {
    if (audit.settled) continue;
    changeDuties(ctx, audit.verifier, "verifier", -1);
    if (audit.challenger !== null) {
      ctx.currency.unreserve(audit.challenger.who, audit.challenger.bond);
      changeDuties(ctx, audit.challenger.who, "whistleblower", -1);
    }
  }
  restartAttempt(ctx, taskId, getTask(ctx, taskId), worker);
}

function resolve(
  ctx: DispatchContext,
  disputeId: bigint,
  dispute: Dispute,
  defenderWon: boolean,
  by: ResolvedBy,
): void {
  const { taskId, auditIndex, kind, challenger, defender } = dispute;
  const [winner, loser] = defenderWon ? [defender, challenger] : [challenger, defender];
  disputes.remove(ctx, disputeId);
  const task = getTask(ctx, taskId);
  tasks.set(ctx, taskId, { ...task, disputes: task.disputes.filter((id) => id !== disputeId) });
  changeDuties(ctx, challenger, partyRoles[kind].challenger, -1);
  changeDuties(ctx, defender, partyRoles[kind].defender, -1);
  emit(ctx, "DisputeResolved", { disputeId, winner, loser, by });
  if (kind === "Transcript") {
    const { bond } = challengeOf(task, auditIndex);
    if (defenderWon) {
      slashChallengeBond(ctx, challenger, bond, defender);
    } else {
      ctx.currency.unreserve(challenger, bond);
      slashStake(ctx, defender, "verifier", "Fraud", challenger);
      updateAudit(ctx, taskId, auditIndex, { outcome: "Failed" });
    }
    return;
  }
  slashStake(
    ctx,
    loser,
    defenderWon ? partyRoles[kind].challenger : partyRoles[kind].defender,
    "Fraud",
    winner,
  );
  if (defenderWon) {
    updateAudit(ctx, taskId, auditIndex, { outcome: "Failed" });
  } else {
    voidAttempt(ctx, taskId, defender);
  }
}
