// One fault-mode scenario on a FraudStack: the faulty node is started as the only node of its role
// the chain can draw, a real job runs through the API, the standby honest worker is bonded to take
// over if the row says the faulty one misses a deadline, and afterwards the faulty node is retired
// and the standby unbonded again, so the next scenario draws its own.
import { setTimeout as sleep } from "node:timers/promises";
import type { FraudRow } from "./fraud-modes.ts";
import type { FraudStack, NodeProcess, Outcome } from "./fraud-stack.ts";

export interface ScenarioResult extends Outcome {
  row: FraudRow;
  /** The scenario's node: faulty, or the honest worker of the `honest` row. */
  node: NodeProcess;
  /** Tokens were conserved before the scenario too. */
  conservedBefore: boolean;
}

let scenarios = 0;

async function waitForTakeoverPoint(stack: FraudStack, jobId: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const task = await stack.chainTask(jobId);
    // A worker re-assigned after a deadline, a lost dispute or a lost delivery challenge, a verifier's challenge rejected, a
    // round of audits that all went unanswered, or a verifier that lost a whistleblower's challenge.
    const reassigned = (await stack.events(jobId)).some(
      (e) =>
        e.type === "training.reassigned" ||
        e.type === "verification.dispute_rejected" ||
        (e.type === "verification.delivery_ruled" && e.data.outcome !== "delivered") ||
        (e.type === "verification.closed" && e.data.passed === 0) ||
        (e.type === "verification.fraud_proven" &&
          (e.data.loser as { role?: unknown } | undefined)?.role === "verifier"),
    );
    if (reassigned || task?.status === "Unassigned") return;
    await sleep(500);
  }
  throw new Error(`job ${jobId} was never re-assigned\n${stack.logs()}`);
}

/** The scenario's node: the standby for the `honest` row, a faulty node of the row's mode otherwise. */
export async function scenarioNode(
  stack: FraudStack,
  row: FraudRow,
  standby: NodeProcess,
): Promise<NodeProcess> {
  scenarios += 1;
  const seed = `//Ferdie//${row.mode}-${scenarios}`;
  if (row.mode === "honest") return standby;
  if (row.mode === "absent") return stack.registerAbsent(row.role, seed);
  return stack.startNode(row.role, seed, row.mode);
}

/**
 * One job of `row` with its node. `standby` is an honest worker the stack started and unbonded:
 * the `honest` row's worker, the one a faulty verifier audits, and the one that takes a task
 * over; it is unbonded again afterwards. `standbyVerifier`, an honest verifier kept unbonded, is
 * bonded once a faulty verifier's challenge is rejected, to audit the work again. The node is
 * (re-)bonded first, since a deadline or a lost dispute may have slashed it below its minimum.
 */
export async function runJob(
  stack: FraudStack,
  row: FraudRow,
  node: NodeProcess,
  standby: NodeProcess,
  spec: Record<string, unknown>,
  timeoutMs: number,
  standbyVerifier: NodeProcess | null = null,
): Promise<ScenarioResult> {
  const faulty = node !== standby;
  try {
    await stack.setEligible(node, true);
    if (row.role === "verifier") await stack.setEligible(standby, true);
    const since = await stack.head();
    const conservedBefore = await stack.conserved();
    const job = await stack.submit(spec);
    if (row.takeover) {
      await waitForTakeoverPoint(stack, job.id, timeoutMs);
      await stack.setEligible(row.role === "verifier" && standbyVerifier ? standbyVerifier : standby, true);
    }
    await stack.settle(job.id, timeoutMs);
    const outcome = await stack.outcome(job.id, spec, node, faulty, since);
    return { ...outcome, row, node, conservedBefore };
  } finally {
    await stack.setEligible(standby, false);
    if (standbyVerifier && row.role === "verifier") await stack.setEligible(standbyVerifier, false);
  }
}

/** Runs `row` once with a node of its own, retired afterwards so the next scenario draws its own. */
export async function runScenario(
  stack: FraudStack,
  row: FraudRow,
  spec: Record<string, unknown>,
  timeoutMs: number,
  standby: NodeProcess,
  standbyVerifier: NodeProcess | null = null,
): Promise<ScenarioResult> {
  const node = await scenarioNode(stack, row, standby);
  try {
    return await runJob(stack, row, node, standby, spec, timeoutMs, standbyVerifier);
  } finally {
    if (node !== standby) await stack.retire(node);
  }
}
