// What the chain's event journal (the `chain_events` table the API's watcher fills from finalized
// blocks) says about each task of a bench:fraud row: who was assigned it, who audited it, the
// disputes opened over it and their rounds, the operator a pinpoint game narrowed to, and the
// slashes it caused. A slash names no task, so it is tied to one by the extrinsic that made it:
// another event of the same extrinsic names the task, or the dispute it settled.
import type { Database } from "../prisma/client.ts";

export interface DisputeFacts {
  id: string;
  /** `Commitment` (a verifier against the worker) or `Transcript` (a whistleblower against a verifier). */
  kind: string;
  defender: string;
  /** The defender's answers: its opening claim and one per bisection (PROTOCOL.md §6). */
  rounds: number;
  /** The graph node phase 2 narrowed the game to, when it got there. */
  operator: { step: number; node: number } | null;
  loser: string | null;
}

export interface TaskFacts {
  /** Workers the chain assigned the task to, in order. */
  workers: string[];
  /** Verifiers the chain drew for its audits. */
  verifiers: string[];
  disputes: DisputeFacts[];
  /** Accounts slashed by an extrinsic acting on this task or on one of its disputes. */
  slashed: string[];
  /** Audits a whistleblower challenged. */
  challenged: number;
  /** Audits the verifier's reveal showed forced errors, and those of them a whistleblower challenged. */
  forcedErrors: number;
  forcedCaught: number;
  /** Jackpot payouts for forced errors caught, in planck. */
  jackpotPaid: bigint[];
}

/** The facts of a task nothing happened to. */
export function noFacts(): TaskFacts {
  return {
    workers: [],
    verifiers: [],
    disputes: [],
    slashed: [],
    challenged: 0,
    forcedErrors: 0,
    forcedCaught: 0,
    jackpotPaid: [],
  };
}

interface Row {
  blockNumber: number;
  extrinsicHash: string | null;
  name: string;
  chainTaskId: bigint | null;
  data: Record<string, unknown>;
}

const text = (value: unknown) => String(value);

/** The facts of every task in `chainTaskIds`, from events after block `since`. */
export async function taskFacts(
  db: Database,
  chainTaskIds: bigint[],
  since: number,
): Promise<Map<bigint, TaskFacts>> {
  const rows: Row[] = (
    await db.chainEvent.findMany({
      where: { pallet: "Compute", blockNumber: { gt: since } },
      orderBy: [{ blockNumber: "asc" }, { eventIndex: "asc" }],
    })
  ).map((row) => ({ ...row, data: row.data as Record<string, unknown> }));
  const taskOfDispute = new Map<string, bigint>();
  for (const row of rows) {
    if (row.name === "DisputeOpened" && row.chainTaskId !== null) {
      taskOfDispute.set(text(row.data.disputeId), row.chainTaskId);
    }
  }
  const taskOf = (row: Row): bigint | null =>
    row.chainTaskId ??
    (row.data.disputeId === undefined ? null : (taskOfDispute.get(text(row.data.disputeId)) ?? null));

  const facts = new Map<bigint, TaskFacts>(chainTaskIds.map((id) => [id, noFacts()]));
  const disputes = new Map<string, DisputeFacts>();
  // Per task, the audits of its current round a whistleblower challenged.
  const challengedAudits = new Map<bigint, Set<number>>();
  // The tasks each extrinsic acted on, to tie its slashes to them.
  const extrinsicTasks = new Map<string, Set<bigint>>();
  const extrinsicOf = (row: Row) => `${row.blockNumber}/${row.extrinsicHash ?? "-"}`;
  for (const row of rows) {
    const task = taskOf(row);
    if (task !== null) {
      const key = extrinsicOf(row);
      extrinsicTasks.set(key, (extrinsicTasks.get(key) ?? new Set()).add(task));
    }
    const of = task === null ? undefined : facts.get(task);
    if (!of) continue;
    const dispute = row.data.disputeId === undefined ? undefined : text(row.data.disputeId);
    switch (row.name) {
      case "WorkerAssigned":
        of.workers.push(text(row.data.worker));
        break;
      case "AuditAssigned":
        of.verifiers.push(text(row.data.verifier));
        break;
      case "DisputeOpened": {
        const opened: DisputeFacts = {
          id: dispute!,
          kind: text(row.data.kind),
          defender: text(row.data.defender),
          rounds: 0,
          operator: null,
          loser: null,
        };
        disputes.set(opened.id, opened);
        of.disputes.push(opened);
        break;
      }
      case "AuditsSelected":
        challengedAudits.delete(task!);
        break;
      case "Challenged":
        of.challenged += 1;
        challengedAudits.set(
          task!,
          (challengedAudits.get(task!) ?? new Set()).add(Number(row.data.auditIndex)),
        );
        break;
      case "Revealed":
        if (row.data.forced !== true) break;
        of.forcedErrors += 1;
        if (challengedAudits.get(task!)?.has(Number(row.data.auditIndex))) of.forcedCaught += 1;
        break;
      case "JackpotPaid":
        of.jackpotPaid.push(BigInt(text(row.data.amount)));
        break;
      case "DisputeResponded":
        if (disputes.has(dispute!)) disputes.get(dispute!)!.rounds += 1;
        break;
      case "DisputeNarrowedToOperator":
        if (disputes.has(dispute!)) {
          disputes.get(dispute!)!.operator = { step: Number(row.data.step), node: Number(row.data.node) };
        }
        break;
      case "DisputeResolved":
        if (disputes.has(dispute!)) disputes.get(dispute!)!.loser = text(row.data.loser);
        break;
    }
  }
  for (const row of rows) {
    if (row.name !== "Slashed") continue;
    for (const task of extrinsicTasks.get(extrinsicOf(row)) ?? []) {
      facts.get(task)?.slashed.push(text(row.data.who));
    }
  }
  return facts;
}
