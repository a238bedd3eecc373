// The Compute pallet's events (PROTOCOL.md §12), in event-index order, and a typed emitter.
import type { DispatchContext, EventDefinition, NativeRecord } from "../pallet.ts";

export const computeEvents = {
  NodeRegistered: { who: "AccountId32", roles: "Roles", profile: "H256", bond: "u128" },
  Bonded: { who: "AccountId32", amount: "u128" },
  Unbonding: { who: "AccountId32", amount: "u128", unlockAt: "u32" },
  Withdrawn: { who: "AccountId32", amount: "u128" },
  NodeDeregistered: { who: "AccountId32" },
  TaskCreated: { taskId: "u64", submitter: "AccountId32", price: "u128" },
  WorkerAssigned: { taskId: "u64", worker: "AccountId32", attempt: "u32", commitDeadline: "u32" },
  TaskUnassigned: { taskId: "u64" },
  CheckpointsCommitted: {
    taskId: "u64",
    worker: "AccountId32",
    root: "H256",
    checkpoints: "u32",
    steps: "u64",
    result: "H256",
  },
  AuditsSelected: { taskId: "u64", seed: "H256", count: "u32" },
  AuditAssigned: { taskId: "u64", auditIndex: "u32", segment: "u32", verifier: "AccountId32" },
  VerdictSubmitted: {
    taskId: "u64",
    auditIndex: "u32",
    verifier: "AccountId32",
    agrees: "bool",
    transcript: "H256",
  },
  Challenged: { taskId: "u64", auditIndex: "u32", whistleblower: "AccountId32", firstWrongStep: "u64" },
  Revealed: { taskId: "u64", auditIndex: "u32", forced: "bool" },
  AuditSettled: { taskId: "u64", auditIndex: "u32", outcome: "AuditOutcome" },
  JackpotPaid: { taskId: "u64", auditIndex: "u32", whistleblower: "AccountId32", amount: "u128" },
  DisputeOpened: {
    disputeId: "u64",
    taskId: "u64",
    auditIndex: "u32",
    kind: "DisputeKind",
    challenger: "AccountId32",
    defender: "AccountId32",
  },
  DisputeResponded: { disputeId: "u64", position: "u64", hash: "H256" },
  DisputeBisected: { disputeId: "u64", agree: "bool", lo: "u64", hi: "u64" },
  DisputeNarrowedToStep: { disputeId: "u64", step: "u64" },
  DisputeNarrowedToOperator: { disputeId: "u64", step: "u64", node: "u32" },
  DisputeResolved: { disputeId: "u64", winner: "AccountId32", loser: "AccountId32", by: "ResolvedBy" },
  Slashed: {
    who: "AccountId32",
    amount: "u128",
    toWinner: "u128",
    toJackpot: "u128",
    toTreasury: "u128",
    reason: "SlashReason",
  },
  AuditsClosed: { taskId: "u64" },
  TaskFinalized: {
    taskId: "u64",
    workerPay: "u128",
    verifierPay: "u128",
    jackpotTax: "u128",
    refund: "u128",
  },
  TaskCancelled: { taskId: "u64", refund: "u128" },
  ParametersSet: {},
} as const satisfies Record<string, EventDefinition>;

export type ComputeEventName = keyof typeof computeEvents;

export function emit(ctx: DispatchContext, event: ComputeEventName, fields: NativeRecord): void {
  ctx.depositEvent("Compute", event, fields);
}
