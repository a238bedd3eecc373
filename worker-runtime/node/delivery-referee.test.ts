// The referee's delivery ruling (chain/PROTOCOL.md §7) over real checkpoints of the mlp fixture:
// each attack on delivery is ruled against the worker, an honest delivery for it, and nothing is
// ruled undelivered while the worker's round to republish runs.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import type { DeliveryView, TaskView } from "../../chain-bridge/index.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../../protocol/checkpoint.ts";
import type { DeliveryRecord } from "../../protocol/node-wire.ts";
import { checkpointRoot } from "../../protocol/receipt.ts";
import { sha256Hex } from "../../protocol/signed-messages.ts";
import { loadFixture } from "../train/fixtures.ts";
import { deliveredModel, initialCheckpoint } from "../train/trainer.ts";
import { type DeliverySource, judgeDelivery } from "./delivery-referee.ts";
import { NodeError } from "./errors.ts";

const { model, dataset, spec } = loadFixture("mlp");
const DEADLINE = 100;
let checkpoints: Uint8Array[] = [];
let leaves: string[] = [];

before(async () => {
  const initial = await initialCheckpoint(model, dataset, spec);
  const state = decodeCheckpoint(initial);
  const later = encodeCheckpoint({
    ...state,
    step: 4,
    params: new Map(
      [...state.params].map(([name, t]) => [
        name,
        { ...t, data: (t.data as Float32Array).map((v) => v * 0.5) },
      ]),
    ),
  });
  checkpoints = [initial, later];
  leaves = checkpoints.map((bytes) => sha256Hex(bytes));
});

function challenged(claimedModel: string | null = null): TaskView {
  const delivery: DeliveryView = {
    bond: 1n,
    claimedModel,
    deadline: DEADLINE,
    lapsesAfter: DEADLINE + 10,
    ruling: null,
  };
  return {
    chainTaskId: 7n,
    submitter: "5Submitter",
    price: 1n,
    status: "Committed",
    worker: "5Worker",
    attempt: 0,
    profile: null,
    graphNodes: 1,
    checkpointInterval: 4n,
    commitDeadline: 0,
    commitment: {
      root: `0x${checkpointRoot(leaves)}`,
      checkpoints: leaves.length,
      steps: 4n,
      result: `0x${leaves.at(-1)}`,
      committedAt: 1,
    },
    seed: null,
    transcriptStride: 0,
    verdictDeadline: 0,
    challengeEnd: 0,
    revealEnd: 0,
    audits: [],
    disputes: [],
    payout: null,
    delivery,
  };
}

/** A data plane holding `stored` of the task's checkpoints (by index) and the task's model. */
function dataPlane(stored: number[]): DeliverySource {
  const blobs = new Map<string, Uint8Array>([[sha256Hex(model), model]]);
  for (const index of stored) blobs.set(leaves[index]!, checkpoints[index]!);
  return {
    delivery: async () =>
      ({
        chain_task_id: "7",
        task_ref: "task_x",
        model_sha256: sha256Hex(model),
        checkpoints: stored.map((index) => ({ step: index * 4, sha256: leaves[index]! })),
      }) satisfies DeliveryRecord,
    download: async (sha256) => {
      const bytes = blobs.get(sha256);
      if (!bytes) throw new NodeError("BLOB_CORRUPT", `no blob ${sha256}`);
      return bytes;
    },
  };
}

test("every committed checkpoint stored and forming the root: delivered", async () => {
  const judged = await judgeDelivery(challenged(), DEADLINE - 5, dataPlane([0, 1]));
  assert.equal(judged.outcome, "Delivered");
});

test("withheld checkpoints: no ruling within the worker's round, undelivered after it", async () => {
  const task = challenged();
  assert.equal((await judgeDelivery(task, DEADLINE, dataPlane([0]))).outcome, null);
  const judged = await judgeDelivery(task, DEADLINE + 1, dataPlane([0]));
  assert.equal(judged.outcome, "Undelivered");
  assert.match(judged.reason, /1 checkpoints are stored, the worker committed 2/);
});

test("a list that does not rebuild the committed root delivers nothing", async () => {
  const source = dataPlane([0, 1]);
  const swapped: DeliverySource = {
    ...source,
    delivery: async (id) => {
      const record = await source.delivery(id);
      return { ...record, checkpoints: [...record.checkpoints].reverse() };
    },
  };
  assert.equal((await judgeDelivery(challenged(), DEADLINE + 1, swapped)).outcome, "Undelivered");
});

test("a signed claim to a model the last checkpoint does not give is a false claim; the derived one is delivered", async () => {
  const untrained = `0x${sha256Hex(model)}`;
  const judged = await judgeDelivery(challenged(untrained), DEADLINE - 5, dataPlane([0, 1]));
  assert.equal(judged.outcome, "FalseClaim");
  const derived = `0x${sha256Hex(deliveredModel(model, checkpoints[1]!))}`;
  assert.equal(
    (await judgeDelivery(challenged(derived), DEADLINE - 5, dataPlane([0, 1]))).outcome,
    "Delivered",
  );
});
