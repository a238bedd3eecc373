// A worker's answer to a delivery challenge (chain/PROTOCOL.md §7): the submitter says the
// checkpoints this node committed never reached it. An honest worker uploads them before it
// commits, so they are normally there already; one whose uploads were lost, or that crashed and
// came back, republishes them from its worker record within its round, and the referee finds them.
import { deliveryOpen, type NodeChainClient } from "../../chain-bridge/index.ts";
import { committedCheckpoints, keptRecords } from "./dispute-records.ts";
import type { GatewayClient } from "./gateway-client.ts";

/**
 * Republishes the committed checkpoints of every task whose open delivery challenge names this node;
 * `answered` holds the `<chain task>@<attempt>` already answered, so each challenge is answered once.
 * Returns the chain tasks answered now.
 */
export async function answerDeliveryChallenges(
  dataDir: string,
  chain: NodeChainClient,
  client: GatewayClient,
  answered: Set<string>,
): Promise<bigint[]> {
  const now: bigint[] = [];
  for (const record of keptRecords(dataDir)) {
    if (record.kind !== "worker") continue;
    const task = await chain.task(record.chainTaskId);
    if (task?.status !== "Committed" || task.worker !== chain.address || !deliveryOpen(task.delivery))
      continue;
    const key = `${task.chainTaskId}@${task.attempt}`;
    const checkpoints = answered.has(key) ? null : committedCheckpoints(dataDir, task.chainTaskId);
    if (!checkpoints) continue;
    for (const { step, bytes } of checkpoints)
      await client.republishCheckpoint(task.chainTaskId, step, bytes);
    answered.add(key);
    now.push(task.chainTaskId);
  }
  return now;
}
