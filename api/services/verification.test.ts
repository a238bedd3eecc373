// The verification driver against the real dev chain, Postgres and Redis: an escrow whose job
// ended while it was being opened (the customer's cancel racing the dispatch, found by the chaos
// suite's flood) is returned to the treasury instead of staying locked on chain for good.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { readBalance, readTask, signerFromSeed } from "../../chain-bridge/index.ts";
import { loadConfig } from "../../config/env.ts";
import { createPool } from "../../prisma/pool.ts";
import { TaskProducer } from "../../queue/producers.ts";
import { suiteRedisUrl } from "../../test/support/app.ts";
import {
  type BridgeFixture,
  sampleSpec,
  stakedNode,
  startBridgeFixture,
} from "../../test/support/chain-fixture.ts";
import { JobDispatcher, taskIdOf } from "./job-dispatch.ts";
import { JobEvents } from "./job-events.ts";
import { JobSettlement } from "./job-settlement.ts";
import { Ledger } from "./ledger.ts";
import { PlatformKey } from "./platform-key.ts";
import { Receipts } from "./receipts.ts";
import { VerificationDriver } from "./verification.ts";
import { WebhookOutbox } from "./webhooks/outbox.ts";

let fixture: BridgeFixture;
let redis: Redis;
let producer: TaskProducer;
let driver: VerificationDriver;
let pool: ReturnType<typeof createPool>["pool"];
const dataDir = mkdtempSync(join(tmpdir(), "veritrain-driver-"));

before(async () => {
  fixture = await startBridgeFixture();
  await stakedNode(fixture.chain, "//Bob", { worker: true });
  const prefix = `test:${randomBytes(4).toString("hex")}`;
  redis = new Redis(suiteRedisUrl(), { keyPrefix: `${prefix}:` });
  producer = new TaskProducer({ redisUrl: suiteRedisUrl(), prefix });
  const { db } = fixture.database;
  pool = createPool(fixture.database.url, 2).pool;
  const events = new JobEvents(db, redis);
  const settlement = new JobSettlement({
    db,
    ledger: new Ledger(db, pool),
    events,
    chain: fixture.bridge,
    webhooks: new WebhookOutbox(undefined),
  });
  driver = new VerificationDriver({
    db,
    chain: fixture.bridge,
    producer,
    dispatcher: new JobDispatcher({ db, chain: fixture.bridge, producer, events, settlement }),
    settlement,
    receipts: new Receipts(db, PlatformKey.load(undefined, dataDir), fixture.devnet.genesisHash),
    events,
    logError: () => undefined,
    verifyingDeadlineMs: loadConfig({}).verifyingDeadlineMs,
    unassignedDeadlineMs: loadConfig({}).unassignedDeadlineMs,
  });
});

after(async () => {
  await driver.stop();
  await producer.close();
  redis.disconnect();
  await pool.end();
  await fixture.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test("an escrow opened for a job that was cancelled meanwhile is returned to the treasury", async () => {
  const { db } = fixture.database;
  const operator = await signerFromSeed("//Alice");
  const reservedBefore = (await readBalance(fixture.chain.api, operator.address)).reserved;
  const escrow = await fixture.bridge.openEscrow({
    taskId: taskIdOf(fixture.jobId),
    jobId: fixture.jobId,
    usdCents: 300n,
    spec: sampleSpec({ verificationLevel: 1 }),
  });
  // The cancel won the race: the job is settled while its escrow was still opening.
  await db.trainingJob.update({ where: { id: fixture.jobId }, data: { status: "cancelled" } });
  assert.ok((await readBalance(fixture.chain.api, operator.address)).reserved > reservedBefore);

  await driver.tick();

  assert.equal((await readTask(fixture.chain.api, escrow.chainTaskId))?.status, "Cancelled");
  assert.equal((await readBalance(fixture.chain.api, operator.address)).reserved, reservedBefore);
});
