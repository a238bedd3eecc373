// The delivery dispute (chain/PROTOCOL.md §7) as the verification driver plays it, against the real
// dev chain, Postgres and Redis, with the referee's delivery ruling over what the platform stores:
// a worker commits its checkpoint root on chain and never completes. The driver challenges the
// commit once its delivery window passed, and
//  * a worker that withheld its checkpoints is ruled undelivered after its round, slashed, and the
//    job trained again by another worker (before the delivery dispute it was voided unslashed);
//  * an honest worker whose checkpoints reached the platform before it crashed is ruled to have
//    delivered, never slashed, and is paid the bond; once it completes, audits are drawn;
//  * with no referee, the challenge lapses: nobody is slashed and the job is trained again.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import {
  type EventWatcher,
  NodeChainClient,
  readTask,
  setProtocolParameters,
} from "../../chain-bridge/index.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../../protocol/checkpoint.ts";
import { merkleRoot } from "../../protocol/merkle.ts";
import { sha256Hex } from "../../protocol/signed-messages.ts";
import { type BridgeFixture, stakedNode, startBridgeFixture } from "../../test/support/chain-fixture.ts";
import { type DriverRig, driverRig, escrowedJob } from "../../test/support/verification-driver.ts";
import type { DeliverySource } from "../../worker-runtime/node/delivery-referee.ts";
import { Referee } from "../../worker-runtime/node/referee.ts";
import { loadFixture } from "../../worker-runtime/train/fixtures.ts";
import { deliveredModel, initialCheckpoint } from "../../worker-runtime/train/trainer.ts";
import { FilesystemBlobStore } from "./blobs.ts";
import { DELIVERY_CHALLENGED, DELIVERY_RULED } from "./delivery-driver.ts";
import type { Ledger } from "./ledger.ts";
import { NodeBlobs } from "./nodes/blobs.ts";
import { chainReadsOf } from "./nodes/chain-reads.ts";
import { Deliveries } from "./nodes/deliveries.ts";
import type { VerificationDriver } from "./verification.ts";

const COMMIT_BLOCKS = 4;
let fixture: BridgeFixture;
let rig: DriverRig;
let driver: VerificationDriver;
let ledger: Ledger;
let watcher: EventWatcher;
let referee: Referee;
let governance: NodeChainClient;
const workers = new Map<string, NodeChainClient>();
const closing: NodeChainClient[] = [];
let deliveries: Deliveries;
const mlp = loadFixture("mlp");
/** A run of the mlp fixture's model: its step-0 state and two later ones, the committed leaves. */
let run: Uint8Array[] = [];
let nodeBlobs: NodeBlobs;
const blobDir = mkdtempSync(join(tmpdir(), "veritrain-deliveries-"));

before(async () => {
  fixture = await startBridgeFixture();
  await setProtocolParameters(fixture.devnet.wsUrl, "//Alice", {
    commitBlocks: COMMIT_BLOCKS,
    auditDelayBlocks: 1,
    verdictBlocks: 4,
    roundBlocks: 4,
    forcedErrorPpm: 0,
  });
  const limit = 1 << 20;
  nodeBlobs = new NodeBlobs(new FilesystemBlobStore(blobDir), {
    checkpointBytes: limit,
    modelBytes: limit,
    evidenceBytes: limit,
  });
  await nodeBlobs.store("model", Readable.from([mlp.model]), sha256Hex(mlp.model));
  const initial = await initialCheckpoint(mlp.model, mlp.dataset, mlp.spec);
  const state = decodeCheckpoint(initial);
  const scaled = (step: number, by: number) =>
    encodeCheckpoint({
      ...state,
      step,
      params: new Map(
        [...state.params].map(([name, t]) => [
          name,
          { ...t, data: (t.data as Float32Array).map((v) => v * by) },
        ]),
      ),
    });
  run = [initial, scaled(5, 0.5), scaled(10, 0.25)];
  rig = driverRig(fixture, (error) => console.error(error), nodeBlobs);
  ({ driver, ledger } = rig);
  const { db } = fixture.database;
  for (const seed of ["//Bob", "//Dave", "//Eve"]) {
    const worker = await stakedNode(fixture.chain, seed, { worker: true });
    workers.set(worker.address, worker);
  }
  closing.push(await stakedNode(fixture.chain, "//Charlie", { verifier: true }));
  await db.trainingJob.update({ where: { id: fixture.jobId }, data: { status: "cancelled" } });
  watcher = await fixture.bridge.watch();
  governance = await NodeChainClient.connect(fixture.devnet.wsUrl, "//Alice");
  deliveries = new Deliveries(db, nodeBlobs, chainReadsOf(fixture.bridge), new Set([governance.address]));
  // What the referee reads through the gateway with the operator's key.
  const source: DeliverySource = {
    delivery: (chainTaskId) => deliveries.record(governance.address, chainTaskId),
    download: async (sha256) => Buffer.concat(await (await nodeBlobs.open(sha256)).toArray()),
  };
  referee = new Referee({
    chain: governance,
    sudoSeed: "//Alice",
    evidence: [],
    runOf: async () => null,
    deliveries: source,
    log: () => undefined,
  });
});

after(async () => {
  await rig.close();
  await watcher.stop();
  await Promise.all([...workers.values(), ...closing, governance].map((node) => node.close()));
  await fixture.stop();
  rmSync(blobDir, { recursive: true, force: true });
});

const eventCount = (jobId: string, type: string) =>
  fixture.database.db.jobEvent.count({ where: { jobId, type } });

/**
 * A paid-for job whose worker trained two segments and committed their root on chain, then went
 * silent. `uploaded`: its checkpoints reached the platform before that (the honest crash), or not
 * (the attack: it withholds them).
 */
async function committedJob(uploaded: boolean) {
  const { db } = fixture.database;
  const { jobId, taskId, escrow } = await escrowedJob(fixture, ledger, sha256Hex(mlp.model));
  const worker = workers.get(escrow.worker!)!;
  const checkpoints = run;
  const leaves = checkpoints.map((bytes) => sha256Hex(bytes));
  if (uploaded) {
    for (const bytes of checkpoints)
      await nodeBlobs.store("checkpoint", Readable.from([bytes]), sha256Hex(bytes));
    await db.checkpoint.createMany({
      data: leaves.map((leaf, i) => ({ taskId, step: i * 5, sha256: leaf, sizeBytes: 64n })),
    });
  }
  const committed = await worker.commit({
    chainTaskId: escrow.chainTaskId,
    checkpoints: 3,
    steps: 10n,
    root: `0x${Buffer.from(merkleRoot(leaves.map((l) => Buffer.from(l, "hex")))).toString("hex")}`,
    result: `0x${leaves[2]}`,
  });
  assert.equal(committed.status, "succeeded", committed.error ?? undefined);
  await rig.driveUntil(
    async () => (await eventCount(jobId, DELIVERY_CHALLENGED)) > 0,
    "the delivery challenged",
    { passes: 80 },
  );
  return { jobId, taskId, chainTaskId: escrow.chainTaskId, worker, checkpoints };
}

async function slashesOf(address: string): Promise<number> {
  const slashed = await fixture.database.db.chainEvent.findMany({ where: { name: "Slashed" } });
  return slashed.filter((event) => (event.data as { who: string }).who === address).length;
}

async function rulingOf(jobId: string): Promise<Record<string, unknown>> {
  const ruled = await fixture.database.db.jobEvent.findFirstOrThrow({
    where: { jobId, type: DELIVERY_RULED },
  });
  return ruled.data as Record<string, unknown>;
}

test("a worker that commits and withholds its checkpoints is ruled undelivered, slashed, and the job is trained again", async () => {
  const { db } = fixture.database;
  const { jobId, taskId, chainTaskId, worker } = await committedJob(false);
  const challenged = await readTask(fixture.chain.api, chainTaskId);
  // Within its round to republish the worker is not ruled against.
  assert.deepEqual(await referee.ruleDeliveries(), []);
  assert.equal(challenged?.delivery?.ruling, null);
  await rig.driveUntil(async () => (await eventCount(jobId, "training.rerun")) > 0, "the job trained again", {
    passes: 80,
    eachPass: () => referee.ruleDeliveries(),
  });

  assert.equal(await slashesOf(worker.address), 1);
  const ruling = await rulingOf(jobId);
  assert.equal(ruling.outcome, "undelivered");
  assert.equal(ruling.worker, worker.address);
  const task = await readTask(fixture.chain.api, chainTaskId);
  assert.equal(task?.status, "Assigned");
  assert.notEqual(task?.worker, worker.address);
  assert.equal((await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } })).status, "running");
  const events = await db.jobEvent.findMany({ where: { jobId } });
  assert.ok(!JSON.stringify(events.map((event) => event.data)).match(/planck|VT\b|token/i), "no tokens");
  assert.equal(await db.checkpoint.count({ where: { taskId } }), 0);
  // Driving again changes nothing: the ruling is carried out once.
  await driver.tick();
  assert.equal(await db.jobEvent.count({ where: { jobId } }), events.length);
  await fixture.bridge.cancel(taskId);
});

test("an honest worker that crashed after its commit is ruled to have delivered, never slashed, and the job goes on", async () => {
  const { db } = fixture.database;
  const { jobId, taskId, chainTaskId, worker } = await committedJob(true);
  const slashedBefore = await slashesOf(worker.address);
  const ruled = await referee.ruleDeliveries();
  assert.deepEqual(ruled, [{ chainTaskId, outcome: "Delivered" }], "ruled at once: nothing is missing");
  // The worker never comes back: the platform completes on its behalf, and audits follow.
  await rig.driveUntil(
    async () => (await fixture.bridge.taskState(taskId)).status === "Auditing",
    "audits drawn",
    { passes: 80 },
  );
  assert.equal((await rulingOf(jobId)).outcome, "delivered");
  assert.equal(await slashesOf(worker.address), slashedBefore);
  const job = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
  assert.equal(job.status, "verifying");
  assert.equal(
    job.resultSha256,
    sha256Hex(deliveredModel(mlp.model, run[2]!)),
    "the model its last checkpoint gives",
  );
  const task = await db.task.findUniqueOrThrow({ where: { id: taskId } });
  assert.equal(task.commitmentSignature, null, "it never signed: its commit on chain stands for it");
  const completed = await db.jobEvent.findFirstOrThrow({ where: { jobId, type: "training.completed" } });
  assert.equal((completed.data as { metrics: { completed_by: string } }).metrics.completed_by, "platform");
  assert.equal((await readTask(fixture.chain.api, chainTaskId))?.worker, worker.address);
});

test("an honest worker whose checkpoints never reached the platform republishes them within its round: delivered", async () => {
  const { jobId, chainTaskId, worker, checkpoints } = await committedJob(false);
  const slashedBefore = await slashesOf(worker.address);
  assert.deepEqual(await referee.ruleDeliveries(), [], "nothing to rule on yet: the worker's round runs");
  const republish = (node: string, step: number, bytes: Uint8Array) =>
    deliveries.republish(node, chainTaskId, step, sha256Hex(bytes), Readable.from([bytes]));
  const stranger = [...workers.keys()].find((address) => address !== worker.address)!;
  await assert.rejects(republish(stranger, 0, checkpoints[0]!), { code: "delivery_not_challenged" });
  await assert.rejects(republish(worker.address, 3, checkpoints[1]!), { code: "checkpoint_step_invalid" });
  // What its node does from its worker record (delivery-answer.ts).
  for (const [index, bytes] of checkpoints.entries()) await republish(worker.address, index * 5, bytes);
  // A stored step keeps its bytes, and bytes must hash to what the node signed.
  await assert.rejects(republish(worker.address, 5, checkpoints[2]!), { code: "checkpoint_conflict" });
  await assert.rejects(
    deliveries.republish(
      worker.address,
      chainTaskId,
      10,
      sha256Hex(checkpoints[2]!),
      Readable.from([checkpoints[1]!]),
    ),
    { code: "content_hash_mismatch" },
  );
  assert.deepEqual(await referee.ruleDeliveries(), [{ chainTaskId, outcome: "Delivered" }]);
  await rig.driveUntil(async () => (await eventCount(jobId, DELIVERY_RULED)) > 0, "the ruling told", {
    passes: 80,
  });
  assert.equal((await rulingOf(jobId)).outcome, "delivered");
  assert.equal(await slashesOf(worker.address), slashedBefore);
  await assert.rejects(republish(worker.address, 0, checkpoints[0]!), { code: "delivery_not_challenged" });
});

test("without a referee the challenge lapses: nobody is slashed and the job is trained again", async () => {
  const { db } = fixture.database;
  const { jobId, taskId, chainTaskId, worker } = await committedJob(false);
  const slashedBefore = await slashesOf(worker.address);
  await rig.driveUntil(async () => (await eventCount(jobId, "training.rerun")) > 0, "the job trained again", {
    passes: 80,
  });
  assert.equal((await rulingOf(jobId)).outcome, "lapsed");
  assert.equal(await slashesOf(worker.address), slashedBefore);
  const lapsed = await db.chainEvent.findMany({ where: { name: "DeliveryLapsed", chainTaskId } });
  assert.equal(lapsed.length, 1);
  const task = await readTask(fixture.chain.api, chainTaskId);
  assert.notEqual(task?.worker, worker.address);
  await fixture.bridge.cancel(taskId);
});
