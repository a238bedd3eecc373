// The Compute pallet's events (PROTOCOL.md §12), in event-index order, and a typed emitter.
import type { DispatchContext, EventDefinition, NativeRecord } from "../pallet.ts";
import { AUDIT_REF, DISPUTE_REF, TASK_REF } from "./compute-types.ts";

/** Stake movements of one node. */
const STAKE = { who: "AccountId32", amount: "u128" } as const;

export const computeEvents = {
  NodeRegistered: { who: "AccountId32", roles: "Roles", profile: "H256", bond: "u128" },
  Bonded: STAKE,
  Unbonding: { ...STAKE, unlockAt: "u32" },
  Withdrawn: STAKE,
  NodeDeregistered: { who: "AccountId32" },
  TaskCreated: { ...TASK_REF, submitter: "AccountId32", price: "u128" },
  WorkerAssigned: { ...TASK_REF, worker: "AccountId32", attempt: "u32", commitDeadline: "u32" },
  TaskUnassigned: TASK_REF,
  CheckpointsCommitted: {
    ...TASK_REF,
    worker: "AccountId32",
    root: "H256",
    checkpoints: "u32",
    steps: "u64",
    result: "H256",
  },
  AuditsSelected: { ...TASK_REF, seed: "H256", count: "u32" },
  AuditAssigned: { ...AUDIT_REF, segment: "u32", verifier: "AccountId32" },
  VerdictSubmitted: {
    ...AUDIT_REF,
    verifier: "AccountId32",
    agrees: "bool",
    transcript: "H256",
    endState: "H256",
  },
  Challenged: { ...AUDIT_REF, whistleblower: "AccountId32", firstWrongStep: "u64" },
  Revealed: { ...AUDIT_REF, forced: "bool" },
  AuditSettled: { ...AUDIT_REF, outcome: "AuditOutcome" },
  JackpotPaid: { ...AUDIT_REF, whistleblower: "AccountId32", amount: "u128" },
  DisputeOpened: {
    ...DISPUTE_REF,
    ...AUDIT_REF,
    kind: "DisputeKind",
    challenger: "AccountId32",
    defender: "AccountId32",
  },
  DisputeResponded: { ...DISPUTE_REF, position: "u64", hash: "H256" },
  DisputeBisected: { ...DISPUTE_REF, agree: "bool", lo: "u64", hi: "u64" },
  DisputeNarrowedToStep: { ...DISPUTE_REF, step: "u64" },
  DisputeNarrowedToOperator: { ...DISPUTE_REF, step: "u64", node: "u32" },
  DisputeResolved: { ...DISPUTE_REF, winner: "AccountId32", loser: "AccountId32", by: "ResolvedBy" },
  Slashed: {
    ...STAKE,
    toWinner: "u128",
    toJackpot: "u128",
    toTreasury: "u128",
    reason: "SlashReason",
  },
  AuditsClosed: TASK_REF,
  TaskFinalized: {
    ...TASK_REF,
    workerPay: "u128",
    verifierPay: "u128",
    jackpotTax: "u128",
    refund: "u128",
  },
  TaskCancelled: { ...TASK_REF, refund: "u128" },
  ParametersSet: {},
  DeliveryChallenged: {
    ...TASK_REF,
    worker: "AccountId32",
    attempt: "u32",
    claimedModel: "Option<H256>",
    deadline: "u32",
    lapsesAfter: "u32",
  },
  DeliveryRuled: { ...TASK_REF, worker: "AccountId32", outcome: "DeliveryOutcome" },
  DeliveryLapsed: { ...TASK_REF, worker: "AccountId32" },
} as const satisfies Record<string, EventDefinition>;

export type ComputeEventName = keyof typeof computeEvents;

export function emit(ctx: DispatchContext, event: ComputeEventName, fields: NativeRecord): void {
  ctx.depositEvent("Compute", event, fields);
}
