// One fault-mode scenario on a FraudStack: the faulty node is started as the only node of its role
// the chain can draw, a real job runs through the API, an honest worker takes over if the row says
// the faulty one misses a deadline, and every node the scenario started is retired afterwards so
// the next scenario draws its own.
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

export async function runScenario(
  stack: FraudStack,
  row: FraudRow,
  spec: Record<string, unknown>,
  timeoutMs: number,
): Promise<ScenarioResult> {
  scenarios += 1;
  const started: NodeProcess[] = [];
  try {
    const faulty = row.mode !== "honest";
    const node = await stack.startNode(
      row.role,
      `//Ferdie//${row.mode}-${scenarios}`,
      faulty ? row.mode : null,
    );
    started.push(node);
    const since = await stack.head();
    const conservedBefore = await stack.conserved();
    const job = await stack.submit(spec);
    if (row.takeover) {
      await waitForTakeoverPoint(stack, job.id, timeoutMs);
      started.push(await stack.startNode("worker", `//Ferdie//honest-${row.mode}-${scenarios}`));
    }
    await stack.settle(job.id, timeoutMs);
    const outcome = await stack.outcome(job.id, spec, node, faulty, since);
    return { ...outcome, row, node, conservedBefore };
  } finally {
    for (const node of started) await stack.retire(node);
  }
}
