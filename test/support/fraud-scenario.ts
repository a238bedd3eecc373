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
    const reassigned = (await stack.events(jobId)).some((e) => e.type === "training.reassigned");
    if (reassigned || task?.status === "Unassigned") return;
    await sleep(500);
  }
  throw new Error(`job ${jobId} was never re-assigned\n${stack.logs()}`);
}

/**
 * Runs `row` once. `standby` is an honest worker the stack started and unbonded: the `honest` row's
 * worker, the one a faulty verifier audits, and the one that takes a task over.
 */
export async function runScenario(
  stack: FraudStack,
  row: FraudRow,
  spec: Record<string, unknown>,
  timeoutMs: number,
  standby: NodeProcess,
): Promise<ScenarioResult> {
  scenarios += 1;
  const faulty = row.mode !== "honest";
  const seed = `//Ferdie//${row.mode}-${scenarios}`;
  const node = !faulty
    ? standby
    : row.mode === "absent"
      ? await stack.registerAbsent(row.role, seed)
      : await stack.startNode(row.role, seed, row.mode);
  try {
    // The honest row's worker, and the honest worker a faulty verifier audits.
    if (!faulty || row.role === "verifier") await stack.setEligible(standby, true);
    const since = await stack.head();
    const conservedBefore = await stack.conserved();
    const job = await stack.submit(spec);
    if (row.takeover) {
      await waitForTakeoverPoint(stack, job.id, timeoutMs);
      await stack.setEligible(standby, true);
    }
    await stack.settle(job.id, timeoutMs);
    const outcome = await stack.outcome(job.id, spec, node, faulty, since);
    return { ...outcome, row, node, conservedBefore };
  } finally {
    if (faulty) await stack.retire(node);
    await stack.setEligible(standby, false);
  }
}
