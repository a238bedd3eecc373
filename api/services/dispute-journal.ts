// A task's disputes of the pinpoint game (PROTOCOL.md §6) as the event journal (`chain_events`,
// written by the chain bridge's watcher from finalized blocks) recorded them: who challenged whom
// over which audit, every bisection round, and how each ended. The verification driver turns it
// into job events and consequences, the receipt into its dispute list with chain anchors. Only
// DisputeOpened names the task; the game's other events name the dispute, so they are matched by
// its id. A dispute that left the chain without a DisputeResolved was aborted: its attempt was
// voided by another dispute the worker lost (§6.6).
import type { Database } from "../../prisma/client.ts";
import type { ChainEvent } from "../../prisma/generated/client.ts";
import type { DisputeAnchor, ReceiptChallenge } from "../../protocol/receipt.ts";

export type DisputeKind = "commitment" | "transcript";
export type PartyRole = "worker" | "verifier" | "whistleblower";

/** Where an event is on chain: its block and its index among the block's events. */
export type JournalAnchor = DisputeAnchor;

export interface DisputeRound {
  /** Phase 1 bisects the segment's steps, phase 2 the operators of the one disputed step. */
  phase: "steps" | "operators";
  /** Whether the challenger agreed with the defender's answer at the midpoint. */
  agreed: boolean;
  /** The range still disputed after the round: steps (phase 1) or node positions (phase 2). */
  lo: string;
  hi: string;
  anchor: JournalAnchor;
}

export interface DisputeRecord {
  disputeId: string;
  kind: DisputeKind;
  /** The task's attempt whose audit the dispute is about. */
  attempt: number;
  auditIndex: number;
  challenger: { role: PartyRole; address: string };
  defender: { role: PartyRole; address: string };
  opened: JournalAnchor;
  rounds: DisputeRound[];
  /** The first step the parties disagree on, once phase 1 ended. */
  step: string | null;
  /** The one operator (node index of the step graph) the game narrowed to, once phase 2 ended. */
  operator: number | null;
  resolved: {
    winner: string;
    loser: string;
    loserRole: PartyRole;
    by: "referee" | "timeout";
    anchor: JournalAnchor;
  } | null;
}

const ROLES: Record<DisputeKind, { challenger: PartyRole; defender: PartyRole }> = {
  commitment: { challenger: "verifier", defender: "worker" },
  transcript: { challenger: "whistleblower", defender: "verifier" },
};

const GAME_EVENTS = [
  "DisputeBisected",
  "DisputeNarrowedToStep",
  "DisputeNarrowedToOperator",
  "DisputeResolved",
] as const;

type EventData = Record<string, unknown>;
const dataOf = (event: ChainEvent) => event.data as EventData;
const text = (value: unknown) => String(value);
const before = (a: ChainEvent, b: ChainEvent) =>
  a.blockNumber < b.blockNumber || (a.blockNumber === b.blockNumber && a.eventIndex < b.eventIndex);

function anchorOf(event: ChainEvent, purpose: JournalAnchor["purpose"]): JournalAnchor {
  return {
    purpose,
    block_number: event.blockNumber,
    block_hash: event.blockHash,
    event_index: event.eventIndex,
    extrinsic_hash: event.extrinsicHash,
  };
}

function kindOf(value: unknown): DisputeKind {
  // An enum of unit variants decodes to its variant's name.
  return text(value).toLowerCase() === "transcript" ? "transcript" : "commitment";
}

/** Every dispute ever opened on the chain task, oldest first, with what the journal has of its game. */
export async function disputesOfTask(db: Database, chainTaskId: bigint): Promise<DisputeRecord[]> {
  const opened = await db.chainEvent.findMany({
    where: { chainTaskId, pallet: "Compute", name: "DisputeOpened" },
    orderBy: [{ blockNumber: "asc" }, { eventIndex: "asc" }],
  });
  if (opened.length === 0) return [];
  const ids = new Set(opened.map((event) => text(dataOf(event).disputeId)));
  const [game, assignments] = await Promise.all([
    db.chainEvent.findMany({
      where: {
        pallet: "Compute",
        name: { in: [...GAME_EVENTS] },
        blockNumber: { gte: opened[0]!.blockNumber },
      },
      orderBy: [{ blockNumber: "asc" }, { eventIndex: "asc" }],
    }),
    db.chainEvent.findMany({
      where: { chainTaskId, pallet: "Compute", name: "WorkerAssigned" },
      orderBy: [{ blockNumber: "asc" }, { eventIndex: "asc" }],
    }),
  ]);
  const byDispute = new Map<string, ChainEvent[]>();
  for (const event of game) {
    const id = text(dataOf(event).disputeId);
    if (!ids.has(id)) continue;
    byDispute.set(id, [...(byDispute.get(id) ?? []), event]);
  }
  return opened.map((open) => {
    const data = dataOf(open);
    const id = text(data.disputeId);
    const kind = kindOf(data.kind);
    const roles = ROLES[kind];
    // The attempt is the one the last assignment before the opening started.
    const assigned = assignments.filter((event) => before(event, open)).at(-1);
    const record: DisputeRecord = {
      disputeId: id,
      kind,
      attempt: assigned ? Number(dataOf(assigned).attempt) : 0,
      auditIndex: Number(data.auditIndex),
      challenger: { role: roles.challenger, address: text(data.challenger) },
      defender: { role: roles.defender, address: text(data.defender) },
      opened: anchorOf(open, "dispute_opened"),
      rounds: [],
      step: null,
      operator: null,
      resolved: null,
    };
    for (const event of byDispute.get(id) ?? []) {
      const game = dataOf(event);
      switch (event.name) {
        case "DisputeBisected":
          record.rounds.push({
            phase: record.step === null ? "steps" : "operators",
            agreed: game.agree === true,
            lo: text(game.lo),
            hi: text(game.hi),
            anchor: anchorOf(event, "dispute_round"),
          });
          break;
        case "DisputeNarrowedToStep":
          record.step = text(game.step);
          break;
        case "DisputeNarrowedToOperator":
          record.operator = Number(game.node);
          break;
        case "DisputeResolved": {
          const loser = text(game.loser);
          record.resolved = {
            winner: text(game.winner),
            loser,
            loserRole: loser === record.defender.address ? roles.defender : roles.challenger,
            by: text(game.by).toLowerCase() === "timeout" ? "timeout" : "referee",
            anchor: anchorOf(event, "dispute_resolved"),
          };
          break;
        }
      }
    }
    return record;
  });
}

/**
 * How a dispute no longer open ended: fraud proven against the defender, the challenge rejected
 * (the challenger lost), or aborted (it left the chain unresolved when its attempt was voided).
 */
export function settledOutcome(record: DisputeRecord): ReceiptChallenge["outcome"] {
  if (record.resolved === null) return "aborted";
  return record.resolved.loser === record.defender.address ? "fraud_proven" : "challenge_rejected";
}

/**
 * The audited segment a dispute is about, in steps: its audit's segment index (from the journal's
 * AuditAssigned, as the watcher recorded it for the attempt), `interval` steps each, the last
 * ending at `lastStep`.
 */
export async function disputedSegment(
  db: Database,
  taskId: string,
  record: DisputeRecord,
  interval: number,
  lastStep: number,
): Promise<{ index: number; from_step: number; to_step: number }> {
  const audit = await db.taskAudit.findUnique({
    where: { taskId_attempt_auditIndex: { taskId, attempt: record.attempt, auditIndex: record.auditIndex } },
    select: { segment: true },
  });
  const index = audit?.segment ?? 0;
  return { index, from_step: index * interval, to_step: Math.min((index + 1) * interval, lastStep) };
}
