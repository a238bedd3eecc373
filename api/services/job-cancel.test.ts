// Cancelling a running job against the dev chain, Postgres and Redis: the user pays for the work
// delivered so far (the checkpoints stored), the rest of the reservation is released, and the
// task's escrow goes back to the treasury on chain, at once before the worker's commit and once
// the delivery window has passed after it. Nothing stays reserved, on chain or in the ledger.
// Likewise a job whose task waits `Unassigned` (no free worker of its profile) past its deadline.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Keyring } from "@polkadot/keyring";
import { Redis } from "ioredis";
import type pg from "pg";
import { ChainBridge, type NodeChainClient, readBalance, readTask } from "../../chain-bridge/index.ts";
import { loadConfig } from "../../config/env.ts";
import { createPool } from "../../prisma/pool.ts";
import { TaskProducer } from "../../queue/producers.ts";
import { suiteRedisUrl } from "../../test/support/app.ts";
import { type ChainFixture, stakedNode, startChainFixture } from "../../test/support/chain-fixture.ts";
import { newId } from "../ids.ts";
import { JobDispatcher, taskIdOf } from "./job-dispatch.ts";
import { JobEvents } from "./job-events.ts";
import { JobSettlement } from "./job-settlement.ts";
import { Ledger } from "./ledger.ts";
import { PlatformKey } from "./platform-key.ts";
import { Receipts } from "./receipts.ts";
import { VerificationDriver, type VerificationDriverDeps } from "./verification.ts";
import { WebhookOutbox } from "./webhooks/outbox.ts";

const PRICE_CENTS = 500;
const TOP_UP_CENTS = 10_000;
const hash = () => `0x${randomBytes(32).toString("hex")}`;

describe("cancelling a running job", () => {
  let fixture: ChainFixture;
  let pool: pg.Pool;
  let redis: Redis;
  let producer: TaskProducer;
  let ledger: Ledger;
  let settlement: JobSettlement;
  let events: JobEvents;
  let dispatcher: JobDispatcher;
  let driver: VerificationDriver;
  let bridge: ChainBridge;
  let worker: NodeChainClient;
  const dataDir = mkdtempSync(join(tmpdir(), "veritrain-cancel-"));

  before(async () => {
    fixture = await startChainFixture();
    const { db } = fixture.database;
    ({ pool } = createPool(fixture.database.url, 4));
    const prefix = `test:${randomBytes(4).toString("hex")}`;
    redis = new Redis(suiteRedisUrl(), { keyPrefix: `${prefix}:`, maxRetriesPerRequest: 3 });
    producer = new TaskProducer({ redisUrl: suiteRedisUrl(), prefix });
    ledger = new Ledger(db, pool);
    events = new JobEvents(db, redis);
    bridge = await ChainBridge.create({
      api: fixture.chain.api,
      db,
      operatorSeed: "//Alice",
      tokenUsdRate: "0.01",
    });
    settlement = new JobSettlement({
      db,
      ledger,
      events,
      chain: bridge,
      webhooks: new WebhookOutbox(undefined),
    });
    dispatcher = new JobDispatcher({ db, chain: bridge, producer, events, settlement });
    driver = new VerificationDriver(driverDeps());
    worker = await stakedNode(fixture.chain, "//Bob", { worker: true });
  });

  after(async () => {
    await driver?.stop();
    await producer?.close();
    redis?.disconnect();
    await pool?.end();
    await fixture?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const driverDeps = (): VerificationDriverDeps => ({
    db: fixture.database.db,
    chain: bridge,
    producer,
    dispatcher,
    settlement,
    receipts: new Receipts(
      fixture.database.db,
      PlatformKey.load(undefined, dataDir),
      fixture.devnet.genesisHash,
    ),
    events,
    logError: (error) => {
      throw error;
    },
    verifyingDeadlineMs: loadConfig({}).verifyingDeadlineMs,
    unassignedDeadlineMs: loadConfig({}).unassignedDeadlineMs,
  });

  /** A dispatched job, running on the worker the chain drew, with checkpoints stored up to `stepsDone`. */
  async function runningJob(stepsDone: number) {
    const { db } = fixture.database;
    const organizationId = newId("org");
    await db.organization.create({ data: { id: organizationId, name: "cancels" } });
    await ledger.topUp(organizationId, TOP_UP_CENTS, `top-up:${organizationId}`);
    const file = (purpose: "model" | "dataset") => ({
      id: newId("file"),
      organizationId,
      purpose,
      filename: `${purpose}.bin`,
      sizeBytes: 1n,
      sha256: randomBytes(32).toString("hex"),
      details: {},
    });
    const [model, dataset] = [file("model"), file("dataset")];
    await db.file.createMany({ data: [model, dataset] });
    const id = newId("job");
    await ledger.reserve(organizationId, PRICE_CENTS, `job:${id}:reserve`);
    await db.trainingJob.create({
      data: {
        id,
        organizationId,
        modelFileId: model.id,
        datasetFileId: dataset.id,
        spec: { checkpoint_every: 5 },
        verificationLevel: "basic",
        quotedCents: BigInt(PRICE_CENTS),
        reservedCents: BigInt(PRICE_CENTS),
        flopsPerStep: 1_000n,
        totalSteps: 10,
      },
    });
    assert.equal(await dispatcher.dispatch(id), "dispatched");
    await db.trainingJob.update({ where: { id }, data: { status: "running" } });
    const taskId = taskIdOf(id);
    for (let step = 0; step <= stepsDone; step += 5) {
      await db.checkpoint.create({
        data: { taskId, step, sha256: randomBytes(32).toString("hex"), sizeBytes: 1n },
      });
    }
    const task = await db.task.findUniqueOrThrow({ where: { id: taskId } });
    const job = await db.trainingJob.findUniqueOrThrow({ where: { id } });
    return { organizationId, job, chainTaskId: task.chainTaskId! };
  }

  async function operatorReserved(): Promise<bigint> {
    return (await readBalance(fixture.chain.api, bridge.operatorAddress)).reserved;
  }

  async function cancelledEvent(jobId: string) {
    const event = await fixture.database.db.jobEvent.findFirstOrThrow({
      where: { jobId, type: "job.cancelled" },
    });
    return event.data as { charged_cents: number; released_cents: number };
  }

  it("before the worker's commit: charges the steps delivered and returns the escrow at once", async () => {
    const reservedBefore = await operatorReserved();
    const { organizationId, job, chainTaskId } = await runningJob(5);
    assert.ok((await operatorReserved()) > reservedBefore, "the escrow is locked on chain");

    assert.equal(await settlement.cancel(job), true);

    assert.equal((await readTask(fixture.chain.api, chainTaskId))?.status, "Cancelled");
    assert.equal(await operatorReserved(), reservedBefore, "no escrow left on chain");
    const ended = await fixture.database.db.trainingJob.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(ended.status, "cancelled");
    // 5 of 10 steps delivered: half the price, the other half released.
    assert.equal(ended.chargedCents, 250n);
    assert.deepEqual(await cancelledEvent(job.id), { reason: null, charged_cents: 250, released_cents: 250 });
    assert.deepEqual(await ledger.balance(organizationId), {
      available_cents: TOP_UP_CENTS - 250,
      reserved_cents: 0,
    });
  });

  it("after the worker's commit: the escrow is returned once the delivery window has passed", async () => {
    const reservedBefore = await operatorReserved();
    const { organizationId, job, chainTaskId } = await runningJob(10);
    // The worker commits all 10 steps in 3 checkpoints; its model never reaches the platform.
    await worker.commit({ chainTaskId, checkpoints: 3, steps: 10n, root: hash(), result: hash() });
    assert.equal((await readTask(fixture.chain.api, chainTaskId))?.status, "Committed");

    assert.equal(await settlement.cancel(job), true);
    assert.equal((await cancelledEvent(job.id)).charged_cents, PRICE_CENTS, "every step was delivered");
    assert.deepEqual(await ledger.balance(organizationId), {
      available_cents: TOP_UP_CENTS - PRICE_CENTS,
      reserved_cents: 0,
    });

    // The chain refuses to void a commit inside its delivery window: the escrow waits for it.
    await driver.tick();
    assert.equal((await readTask(fixture.chain.api, chainTaskId))?.status, "Committed");
    const task = await readTask(fixture.chain.api, chainTaskId);
    const { commitBlocks } = await bridge.parameters();
    await advanceTo(task!.commitment!.committedAt + commitBlocks + 1);

    await driver.tick();
    assert.equal((await readTask(fixture.chain.api, chainTaskId))?.status, "Cancelled");
    assert.equal(await operatorReserved(), reservedBefore, "no escrow left on chain");
  });

  it("answers false, changing nothing, when the model was delivered first", async () => {
    const { job } = await runningJob(5);
    await fixture.database.db.trainingJob.update({ where: { id: job.id }, data: { status: "verifying" } });
    assert.equal(await settlement.cancel(job), false);
    const after = await fixture.database.db.trainingJob.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(after.status, "verifying");
    assert.equal(after.chargedCents, null);
  });

  it("a task left without a worker of its profile fails its job at no charge after the deadline", async () => {
    const reservedBefore = await operatorReserved();
    const { organizationId, job, chainTaskId } = await runningJob(5);
    // Bob, the only worker, misses his commit deadline: excluded, nobody of his profile is left.
    await advanceTo((await readTask(fixture.chain.api, chainTaskId))!.commitDeadline + 1);
    await driver.tick();
    assert.equal((await readTask(fixture.chain.api, chainTaskId))?.status, "Unassigned");
    await driver.tick();
    const waiting = await fixture.database.db.trainingJob.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(waiting.status, "running", "within the deadline (an hour) the job waits");

    // The same driver with the clock shortened to 1 ms.
    const impatient = new VerificationDriver({ ...driverDeps(), unassignedDeadlineMs: 1 });
    await impatient.tick();
    await impatient.stop();

    const ended = await fixture.database.db.trainingJob.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(ended.status, "failed");
    assert.equal(
      ended.failureReason,
      "unassigned_timeout: no worker of the profile the job's checkpoints were made with became free in time",
    );
    assert.equal(ended.chargedCents, 0n, "the network's fault: nothing charged");
    assert.equal((await readTask(fixture.chain.api, chainTaskId))?.status, "Cancelled");
    assert.equal(await operatorReserved(), reservedBefore, "no escrow left on chain");
    assert.deepEqual(await ledger.balance(organizationId), {
      available_cents: TOP_UP_CENTS,
      reserved_cents: 0,
    });
  });

  /** Seals blocks (one remark each, from //Dave) until the head is at `target`. */
  async function advanceTo(target: number): Promise<void> {
    const dave = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri("//Dave");
    while ((await bridge.head()) < target) {
      await new Promise<void>((resolve, reject) => {
        fixture.chain.api.tx.system!.remark!("0x00")
          .signAndSend(dave, ({ status }) => {
            if (status.isInBlock || status.isFinalized) resolve();
          })
          .catch(reject);
      });
    }
  }
});
