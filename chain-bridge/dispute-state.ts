// Reads of the pinpoint game's open disputes (PROTOCOL.md §6, storage `Compute.Disputes`) into a
// plain type, with the position the defender is asked about next computed by the chain's own rule,
// so a player answers exactly the question the chain will check.
import type { ApiPromise } from "@polkadot/api";
import { TranscriptLayout } from "../protocol/transcript.ts";
import { computeEntries, computeStorage, readTask, type TaskView } from "./compute-state.ts";
import { BridgeError } from "./errors.ts";
import { decodeEvent, eventsAt } from "./inclusion.ts";
import { bigintOf, hashOf, numberOf, objectOf, optionalOf, stringOf, variantOf } from "./values.ts";

export const DISPUTE_KINDS = ["Commitment", "Transcript"] as const;
export type DisputeKind = (typeof DISPUTE_KINDS)[number];
export const DISPUTE_PHASES = ["Opening", "Steps", "Operators", "Claim", "Referee"] as const;
export type DisputePhase = (typeof DISPUTE_PHASES)[number];
export const DISPUTE_TURNS = ["Defender", "Challenger", "Referee"] as const;
export type DisputeTurn = (typeof DISPUTE_TURNS)[number];

export interface DisputeView {
  disputeId: bigint;
  chainTaskId: bigint;
  attempt: number;
  auditIndex: number;
  kind: DisputeKind;
  challenger: string;
  defender: string;
  phase: DisputePhase;
  /** The audited segment (segmentStart, segmentEnd]. */
  segmentStart: bigint;
  segmentEnd: bigint;
  /** Phase 1: agreed and disputed steps; phase 2: node counts (C_lo agreed, C_hi disputed). */
  lo: bigint;
  hi: bigint;
  /** The disputed step t, once phase 1 is over. */
  step: bigint;
  /** The defender's claimed state after `hi` (phase 1) or after step t (phase 2). */
  stateClaim: string;
  cumulativeLo: string;
  cumulativeHi: string;
  /** The defender's answer waiting for the challenger's bisect. */
  pending: string | null;
  turn: DisputeTurn;
  /** The last block of the current turn. */
  deadline: number;
  /** The defender's claimed o_n of the narrowed node, once it made it. */
  claim: string | null;
}

export function disputeFromPrimitive(disputeId: bigint, value: unknown): DisputeView {
  const where = `Compute.Disputes(${disputeId})`;
  const raw = objectOf(value, where);
  const field = (name: string) => `${where}.${name}`;
  return {
    disputeId,
    chainTaskId: bigintOf(raw.taskId, field("taskId")),
    attempt: numberOf(raw.attempt, field("attempt")),
    auditIndex: numberOf(raw.auditIndex, field("auditIndex")),
    kind: variantOf(raw.kind, DISPUTE_KINDS, field("kind")),
    challenger: stringOf(raw.challenger, field("challenger")),
    defender: stringOf(raw.defender, field("defender")),
    phase: variantOf(raw.phase, DISPUTE_PHASES, field("phase")),
    segmentStart: bigintOf(raw.segmentStart, field("segmentStart")),
    segmentEnd: bigintOf(raw.segmentEnd, field("segmentEnd")),
    lo: bigintOf(raw.lo, field("lo")),
    hi: bigintOf(raw.hi, field("hi")),
    step: bigintOf(raw.step, field("step")),
    stateClaim: hashOf(raw.stateClaim, field("stateClaim")),
    cumulativeLo: hashOf(raw.cumulativeLo, field("cumulativeLo")),
    cumulativeHi: hashOf(raw.cumulativeHi, field("cumulativeHi")),
    pending: optionalOf(raw.pending, (present) => hashOf(present, field("pending"))),
    turn: variantOf(raw.turn, DISPUTE_TURNS, field("turn")),
    deadline: numberOf(raw.deadline, field("deadline")),
    claim: optionalOf(raw.claim, (present) => hashOf(present, field("claim"))),
  };
}

/** An open dispute, or null once it is resolved (resolved disputes leave storage). */
export async function readDispute(api: ApiPromise, disputeId: bigint): Promise<DisputeView | null> {
  const value = (await computeStorage(api, "disputes")(disputeId)).toPrimitive();
  return value === null ? null : disputeFromPrimitive(disputeId, value);
}

/** Every open dispute, by id. */
export async function readOpenDisputes(api: ApiPromise): Promise<DisputeView[]> {
  return (await computeEntries(api, "disputes"))
    .map(([key, value]) => disputeFromPrimitive(bigintOf(key, "dispute id"), value))
    .sort((a, b) => (a.disputeId < b.disputeId ? -1 : 1));
}

/**
 * The position the defender answers next (PROTOCOL.md §6.1-6.3): the disputed step `hi` at the
 * opening, the midpoint in phases 1 and 2 (a transcript dispute bisects its leaves first), node `lo`
 * for the final claim. `task` is the dispute's task, for a transcript's layout.
 */
export function askedPosition(dispute: DisputeView, task: TaskView): bigint {
  switch (dispute.phase) {
    case "Opening":
      return dispute.hi;
    case "Steps": {
      if (dispute.kind === "Commitment") return (dispute.lo + dispute.hi) / 2n;
      const layout = new TranscriptLayout(
        dispute.segmentStart,
        dispute.segmentEnd,
        BigInt(task.transcriptStride),
      );
      return layout.bisectionPoint(dispute.lo, dispute.hi);
    }
    case "Operators":
      return (dispute.lo + dispute.hi) / 2n;
    default:
      return dispute.lo;
  }
}

/** The dispute with its task, both as the chain holds them now; null once the dispute is over. */
export async function readDisputeWithTask(
  api: ApiPromise,
  disputeId: bigint,
): Promise<{ dispute: DisputeView; task: TaskView } | null> {
  const dispute = await readDispute(api, disputeId);
  if (dispute === null) return null;
  const task = await readTask(api, dispute.chainTaskId);
  if (task === null)
    throw new BridgeError(
      "RECONCILE_FAILED",
      `dispute ${disputeId} names unknown task ${dispute.chainTaskId}`,
    );
  return { dispute, task };
}

/**
 * The state hash both parties agreed on after step `dispute.step − 1`, read from the game's events:
 * the defender's `DisputeResponded` at that position, answered by the challenger's agreeing
 * `DisputeBisected` (PROTOCOL.md §6.2). Null when that step is the segment's start, whose state is
 * the committed checkpoint leaf (proved against the root instead). Scans back from the head to the
 * dispute's opening.
 */
export async function agreedStateBefore(api: ApiPromise, dispute: DisputeView): Promise<string | null> {
  const position = dispute.step - 1n;
  if (position === dispute.segmentStart) return null;
  const id = dispute.disputeId.toString();
  const ours = (data: Record<string, unknown>) => String(data.disputeId) === id;
  let head = (await api.rpc.chain.getHeader()).number.toNumber();
  // Newest first: phase 2's events (after DisputeNarrowedToStep) reuse lo for node counts.
  let inPhase1 = false;
  let agreed = false;
  for (; head >= 0; head--) {
    const records = await eventsAt(api, (await api.rpc.chain.getBlockHash(head)).toHex());
    for (const { pallet, name, data } of records.map(decodeEvent).reverse()) {
      if (pallet !== "Compute" || !ours(data)) continue;
      if (name === "DisputeNarrowedToStep") inPhase1 = true;
      if (!inPhase1) continue;
      if (name === "DisputeBisected" && data.agree === true && BigInt(String(data.lo)) === position)
        agreed = true;
      if (agreed && name === "DisputeResponded" && BigInt(String(data.position)) === position) {
        return hashOf(data.hash, `DisputeResponded(${id}).hash`);
      }
      if (name === "DisputeOpened") {
        throw new BridgeError(
          "RECONCILE_FAILED",
          `dispute ${id} has no agreed state after step ${position} on chain`,
        );
      }
    }
  }
  throw new BridgeError("RECONCILE_FAILED", `dispute ${id}'s opening is not on chain`);
}
