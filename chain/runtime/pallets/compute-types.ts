// The Compute pallet's data model: SCALE definitions (served in metadata, so @polkadot/api decodes
// them as `PalletCompute…` types) beside the TypeScript shapes the handlers work with.
// Field meanings are specified in chain-bridge/PROTOCOL.md §11.
import type { AccountId, TypeDefinition } from "../pallet.ts";

/** `0x`-prefixed 32-byte hex. */
export type Hash = string;

export const ZERO_HASH: Hash = `0x${"00".repeat(32)}`;

/** The fields that name a task, an audit of it or a dispute: leading fields of calls and events. */
export type TaskRef = { taskId: bigint };
export type AuditRef = { taskId: bigint; auditIndex: number };
export type DisputeRef = { disputeId: bigint };
export const TASK_REF = { taskId: "u64" } as const;
export const AUDIT_REF = { ...TASK_REF, auditIndex: "u32" } as const;
export const DISPUTE_REF = { disputeId: "u64" } as const;

export type Roles = { worker: boolean; verifier: boolean; whistleblower: boolean };
export type Role = keyof Roles;

export type Parameters = {
  treasury: AccountId;
  minWorkerStake: bigint;
  minVerifierStake: bigint;
  minWhistleblowerStake: bigint;
  unbondingBlocks: number;
  commitBlocks: number;
  auditDelayBlocks: number;
  verdictBlocks: number;
  challengeBlocks: number;
  revealBlocks: number;
  roundBlocks: number;
  challengeBond: bigint;
  fraudSlashPercent: number;
  timeoutSlashPercent: number;
  winnerSharePercent: number;
  jackpotSharePercent: number;
  verifierSharePercent: number;
  jackpotTaxPercent: number;
  jackpotPayout: bigint;
  forcedErrorPpm: number;
  maxVerificationLevel: number;
  /** Steps between the leaves of a verdict's transcript (protocol/transcript.ts). */
  transcriptStride: number;
};

export type NodeInfo = {
  roles: Roles;
  profile: Hash;
  bonded: bigint;
  unbonding: bigint;
  unlockAt: number;
  commitment: Hash;
  /** Recorded on an open audit: the verifier takes no other audit until it commits to a new secret. */
  commitmentInUse: boolean;
  workerDuties: number;
  verifierDuties: number;
  whistleblowerDuties: number;
};

export type TaskSpec = {
  modelHash: Hash;
  datasetHash: Hash;
  specHash: Hash;
  profile: Hash | null;
  maxSteps: bigint;
  checkpointInterval: bigint;
  graphNodes: number;
  verificationLevel: number;
};

export type TaskStatus =
  | "Unassigned"
  | "Assigned"
  | "Committed"
  | "Auditing"
  | "Closed"
  | "Finalized"
  | "Cancelled";

export type Commitment = {
  root: Hash;
  checkpoints: number;
  steps: bigint;
  result: Hash;
  committedAt: number;
};

export type Verdict = { agrees: boolean; transcript: Hash; at: number };

export type Challenge = { who: AccountId; firstWrongStep: bigint; bond: bigint };

export type AuditOutcome = "Pending" | "Passed" | "Failed";

export type Audit = {
  segment: number;
  verifier: AccountId;
  commitment: Hash;
  verdict: Verdict | null;
  challenger: Challenge | null;
  forced: boolean | null;
  outcome: AuditOutcome;
  settled: boolean;
};

export type Payout = { worker: bigint; verifiers: bigint; jackpot: bigint; refund: bigint };

export type DeliveryOutcome = "Delivered" | "Undelivered" | "FalseClaim";

/**
 * The worker's own signed commitment to a model (protocol/signed-messages.ts `commitmentMessage`
 * over the committed root and leaf count), which the submitter refused as not the checkpoints' model.
 */
export type DeliveryClaim = {
  /** The platform's task reference the worker signed (UTF-8 bytes, `0x` hex). */
  taskRef: string;
  /** SHA-256 of the model the worker named. */
  model: Hash;
  /** sr25519 signature, `0x` hex of 64 bytes. */
  signature: string;
};

export type DeliveryChallenge = {
  /** The submitter's bond, as reserved at challenge time. */
  bond: bigint;
  claim: DeliveryClaim | null;
  /** The worker's last block to republish its checkpoints; `Undelivered` is ruled only after it. */
  deadline: number;
  /** After this block, without a ruling, anyone may close the challenge: void, nobody slashed. */
  lapsesAfter: number;
  /** Set once the referee ruled `Delivered` (the task goes on); other rulings end the attempt. */
  ruling: DeliveryOutcome | null;
};

export type TaskInfo = {
  submitter: AccountId;
  spec: TaskSpec;
  price: bigint;
  status: TaskStatus;
  worker: AccountId | null;
  attempt: number;
  excluded: AccountId[];
  /**
   * The determinism profile every worker and verifier of the task has: spec.profile, or else the
   * first worker's (null only before the first draw). Checkpoints then replay and resume bit for bit.
   */
  profile: Hash | null;
  commitDeadline: number;
  commitment: Commitment | null;
  seed: Hash | null;
  /** `transcript_stride` when the audits were drawn: the verdicts of that round are strided by it. */
  transcriptStride: number;
  verdictDeadline: number;
  challengeEnd: number;
  revealEnd: number;
  audits: Audit[];
  disputes: bigint[];
  payout: Payout | null;
  /** The attempt's delivery challenge (§7), open or ruled `Delivered`. */
  delivery: DeliveryChallenge | null;
};

export type DisputeKind = "Commitment" | "Transcript";
export type DisputePhase = "Opening" | "Steps" | "Operators" | "Claim" | "Referee";
export type Turn = "Defender" | "Challenger" | "Referee";
export type ResolvedBy = "Referee" | "Timeout";
export type SlashReason = "Fraud" | "Timeout" | "LostChallenge";

export type Dispute = {
  taskId: bigint;
  attempt: number;
  auditIndex: number;
  kind: DisputeKind;
  challenger: AccountId;
  defender: AccountId;
  phase: DisputePhase;
  segmentStart: bigint;
  segmentEnd: bigint;
  /** Phase 1: steps; phase 2: counts of operators whose outputs are covered by the cumulative hash. */
  lo: bigint;
  hi: bigint;
  /** The disputed step, once phase 1 has narrowed the segment to one step. */
  step: bigint;
  /** The defender's claimed state after step `hi` (phase 1) / after the disputed step (phase 2). */
  stateClaim: Hash;
  cumulativeLo: Hash;
  cumulativeHi: Hash;
  /** The defender's answer at the midpoint, waiting for the challenger's bisect. */
  pending: Hash | null;
  turn: Turn;
  deadline: number;
  /** The defender's claimed output hash of the narrowed operator. */
  claim: Hash | null;
};

export const computeTypes: Readonly<Record<string, TypeDefinition>> = {
  Roles: { struct: { worker: "bool", verifier: "bool", whistleblower: "bool" } },
  Parameters: {
    struct: {
      treasury: "AccountId32",
      minWorkerStake: "u128",
      minVerifierStake: "u128",
      minWhistleblowerStake: "u128",
      unbondingBlocks: "u32",
      commitBlocks: "u32",
      auditDelayBlocks: "u32",
      verdictBlocks: "u32",
      challengeBlocks: "u32",
      revealBlocks: "u32",
      roundBlocks: "u32",
      challengeBond: "u128",
      fraudSlashPercent: "u8",
      timeoutSlashPercent: "u8",
      winnerSharePercent: "u8",
      jackpotSharePercent: "u8",
      verifierSharePercent: "u8",
      jackpotTaxPercent: "u8",
      jackpotPayout: "u128",
      forcedErrorPpm: "u32",
      maxVerificationLevel: "u8",
      transcriptStride: "u32",
    },
  },
  NodeInfo: {
    struct: {
      roles: "Roles",
      profile: "H256",
      bonded: "u128",
      unbonding: "u128",
      unlockAt: "u32",
      commitment: "H256",
      commitmentInUse: "bool",
      workerDuties: "u32",
      verifierDuties: "u32",
      whistleblowerDuties: "u32",
    },
  },
  TaskSpec: {
    struct: {
      modelHash: "H256",
      datasetHash: "H256",
      specHash: "H256",
      profile: "Option<H256>",
      maxSteps: "u64",
      checkpointInterval: "u64",
      graphNodes: "u32",
      verificationLevel: "u8",
    },
  },
  TaskStatus: {
    enum: {
      Unassigned: null,
      Assigned: null,
      Committed: null,
      Auditing: null,
      Closed: null,
      Finalized: null,
      Cancelled: null,
    },
  },
  Commitment: {
    struct: { root: "H256", checkpoints: "u32", steps: "u64", result: "H256", committedAt: "u32" },
  },
  Verdict: { struct: { agrees: "bool", transcript: "H256", at: "u32" } },
  Challenge: { struct: { who: "AccountId32", firstWrongStep: "u64", bond: "u128" } },
  AuditOutcome: { enum: { Pending: null, Passed: null, Failed: null } },
  Audit: {
    struct: {
      segment: "u32",
      verifier: "AccountId32",
      commitment: "H256",
      verdict: "Option<Verdict>",
      challenger: "Option<Challenge>",
      forced: "Option<bool>",
      outcome: "AuditOutcome",
      settled: "bool",
    },
  },
  Payout: { struct: { worker: "u128", verifiers: "u128", jackpot: "u128", refund: "u128" } },
  DeliveryOutcome: { enum: { Delivered: null, Undelivered: null, FalseClaim: null } },
  DeliveryClaim: { struct: { taskRef: "Bytes", model: "H256", signature: "[u8; 64]" } },
  DeliveryChallenge: {
    struct: {
      bond: "u128",
      claim: "Option<DeliveryClaim>",
      deadline: "u32",
      lapsesAfter: "u32",
      ruling: "Option<DeliveryOutcome>",
    },
  },
  TaskInfo: {
    struct: {
      submitter: "AccountId32",
      spec: "TaskSpec",
      price: "u128",
      status: "TaskStatus",
      worker: "Option<AccountId32>",
      attempt: "u32",
      excluded: "Vec<AccountId32>",
      profile: "Option<H256>",
      commitDeadline: "u32",
      commitment: "Option<Commitment>",
      seed: "Option<H256>",
      transcriptStride: "u32",
      verdictDeadline: "u32",
      challengeEnd: "u32",
      revealEnd: "u32",
      audits: "Vec<Audit>",
      disputes: "Vec<u64>",
      payout: "Option<Payout>",
      delivery: "Option<DeliveryChallenge>",
    },
  },
  DisputeKind: { enum: { Commitment: null, Transcript: null } },
  DisputePhase: { enum: { Opening: null, Steps: null, Operators: null, Claim: null, Referee: null } },
  Turn: { enum: { Defender: null, Challenger: null, Referee: null } },
  ResolvedBy: { enum: { Referee: null, Timeout: null } },
  SlashReason: { enum: { Fraud: null, Timeout: null, LostChallenge: null } },
  Dispute: {
    struct: {
      taskId: "u64",
      attempt: "u32",
      auditIndex: "u32",
      kind: "DisputeKind",
      challenger: "AccountId32",
      defender: "AccountId32",
      phase: "DisputePhase",
      segmentStart: "u64",
      segmentEnd: "u64",
      lo: "u64",
      hi: "u64",
      step: "u64",
      stateClaim: "H256",
      cumulativeLo: "H256",
      cumulativeHi: "H256",
      pending: "Option<H256>",
      turn: "Turn",
      deadline: "u32",
      claim: "Option<H256>",
    },
  },
};
