// The referee's ruling on a delivery challenge (chain/PROTOCOL.md §7): did the worker of a
// committed task deliver what it committed? Every committed leaf's checkpoint must be on the data
// plane (downloaded by hash, so the bytes are the leaf's), the leaves must form the root on chain,
// and a signed claim the worker made must name the model the last checkpoint gives. Nothing the
// gateway lists is taken on trust: a list that does not rebuild the committed root delivers nothing.
import { createHash } from "node:crypto";
import type { DeliveryOutcome, TaskView } from "../../chain-bridge/index.ts";
import type { DeliveryRecord } from "../../protocol/node-wire.ts";
import { checkpointRoot } from "../../protocol/receipt.ts";
import { deliveredModel } from "../train/trainer.ts";

/** Where the referee reads what was delivered: the gateway with the operator's key, in production. */
export interface DeliverySource {
  delivery(chainTaskId: bigint): Promise<DeliveryRecord>;
  /** A blob by hash; throws when it is missing or hashes differently. */
  download(sha256: string): Promise<Uint8Array>;
}

export interface DeliveryJudgement {
  /** The ruling, or null while the worker's round to republish is still running. */
  outcome: DeliveryOutcome | null;
  /** Why, in words, for the log. */
  reason: string;
}

const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** The checkpoints' bytes in leaf order, or why they do not make the commitment. */
async function committedCheckpoints(
  task: TaskView,
  record: DeliveryRecord,
  source: DeliverySource,
): Promise<Uint8Array[] | string> {
  const commitment = task.commitment!;
  const leaves = record.checkpoints.map((c) => c.sha256);
  if (leaves.length !== commitment.checkpoints) {
    return `${leaves.length} checkpoints are stored, the worker committed ${commitment.checkpoints}`;
  }
  if (`0x${checkpointRoot(leaves)}` !== commitment.root) {
    return `the stored checkpoints do not form the committed root ${commitment.root}`;
  }
  const bytes: Uint8Array[] = [];
  for (const leaf of leaves) {
    try {
      bytes.push(await source.download(leaf));
    } catch (error) {
      return `checkpoint ${leaf} cannot be read: ${(error as Error).message}`;
    }
  }
  return bytes;
}

/** Rules the open delivery challenge of `task` at block `head`. */
export async function judgeDelivery(
  task: TaskView,
  head: number,
  source: DeliverySource,
): Promise<DeliveryJudgement> {
  const delivery = task.delivery!;
  const record = await source.delivery(task.chainTaskId);
  const checkpoints = await committedCheckpoints(task, record, source);
  if (typeof checkpoints === "string") {
    // An honest worker that crashed has its round to republish; only then is it undelivered.
    return head > delivery.deadline
      ? { outcome: "Undelivered", reason: checkpoints }
      : {
          outcome: null,
          reason: `${checkpoints}; the worker may republish until block ${delivery.deadline}`,
        };
  }
  if (delivery.claimedModel !== null) {
    const model = await source.download(record.model_sha256);
    const derived = `0x${sha256Hex(deliveredModel(model, checkpoints.at(-1)!))}`;
    if (derived !== delivery.claimedModel) {
      return {
        outcome: "FalseClaim",
        reason: `the worker signed for model ${delivery.claimedModel}; its last checkpoint gives ${derived}`,
      };
    }
  }
  return {
    outcome: "Delivered",
    reason: "every committed checkpoint is stored and forms the committed root",
  };
}
