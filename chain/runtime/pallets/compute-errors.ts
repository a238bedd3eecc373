// The Compute pallet's module errors (PROTOCOL.md §13), in error-index order.
import { type DispatchError, moduleError } from "../pallet.ts";

export const computeErrors = {
  AlreadyRegistered: "The account is already registered as a node.",
  NotRegistered: "The account is not a registered node.",
  NoRoles: "A node must take at least one role (worker, verifier, whistleblower).",
  BondTooLow: "The bond is below the minimum stake of one of the requested roles.",
  ZeroAmount: "The amount must be greater than zero.",
  InsufficientBond: "The node has less bonded stake than requested beyond what its open duties put at risk.",
  InsufficientBalance: "The account's free balance cannot cover the reservation.",
  NothingToWithdraw: "The node has nothing unbonding.",
  StillLocked: "The unbonding delay has not passed yet.",
  HasOpenDuties: "The node still has an open task, audit, challenge or dispute.",
  StakeRemaining: "The node still has bonded or unbonding stake.",
  InvalidSpec:
    "The task spec is out of range: max_steps >= 1, 1 <= checkpoint_interval <= max_steps, graph_nodes >= 1, verification_level <= max_verification_level.",
  NoEligibleWorker: "No staked worker (with the required profile, other than the submitter) is free.",
  NoEligibleVerifier:
    "No staked verifier (with the required profile, other than the worker and submitter) is free.",
  UnknownTask: "No task has this id.",
  WrongTaskStatus: "The task is not in a status that allows this call.",
  NotAssignedWorker: "Only the task's assigned worker can do this.",
  DeadlinePassed: "The deadline for this action has passed.",
  TooEarly: "The window for this action has not opened yet.",
  InvalidCommit:
    "steps must be in 1..=max_steps and checkpoints must equal ceil(steps / checkpoint_interval) + 1.",
  NothingToAudit: "The task's verification level is 0.",
  UnknownAudit: "The task has no audit with this index.",
  NotAuditVerifier: "Only the audit's verifier can do this.",
  AlreadySubmitted: "The verdict was already submitted.",
  NotEligible: "The node lacks the role or the minimum stake for this action.",
  ConflictOfInterest: "The task's worker or the audit's verifier cannot challenge it.",
  NoVerdict: "The audit has no verdict.",
  AlreadyChallenged: "The audit, or the attempt's delivery, was already challenged.",
  InvalidStep:
    "first_wrong_step must be a step the transcript has a leaf for: in (segment start, segment end], a multiple of the stride from the start, or the end.",
  RevealTooEarly: "Secrets are revealed only after the challenge window.",
  BadReveal: "blake2_256(secret) does not match the commitment.",
  AlreadySettled: "The audit is already settled.",
  UnknownDispute: "No open dispute has this id.",
  NotYourTurn: "It is not this party's turn in the dispute.",
  BadProof:
    "A Merkle inclusion proof does not verify against its root (the committed checkpoints or the verdict's transcript), or one was given where none is due.",
  InconsistentClaim: "The claimed operator output does not match the defender's earlier claims.",
  OpenDisputes: "The task still has open disputes.",
  NotSubmitter: "Only the task's submitter can do this.",
  NotCancellable: "The worker has committed; the task can no longer be cancelled.",
  InvalidParameters:
    "Percentages must be <= 100 (winner + jackpot shares and verifier share + jackpot tax too), forced_error_ppm <= 1,000,000, windows, minimum stakes and transcript_stride > 0.",
  InconsistentVerdict:
    "agrees must be true exactly when the transcript's end state (its last leaf) equals the worker's committed checkpoint leaf at the segment's end.",
  CommitmentReused: "The new forced-error commitment must differ from the current one.",
  BadClaim:
    "The delivery claim is not the worker's sr25519 signature over its commitment to the committed root, leaf count and claimed model, or its task reference is empty or longer than 64 bytes.",
  NoDeliveryChallenge: "The task has no open delivery challenge.",
  NoClaim: "FalseClaim needs a challenge that carries the worker's signed claim.",
  DeliveryUnsettled:
    "The task's delivery challenge is open: audits, finalization and cancellation wait for the ruling.",
} as const;

export type ComputeErrorName = keyof typeof computeErrors;

export function computeError(name: ComputeErrorName): DispatchError {
  return moduleError("Compute", name);
}

/** Throws the module error unless the condition holds. */
export function ensure(condition: boolean, error: ComputeErrorName): asserts condition {
  if (!condition) throw computeError(error);
}
