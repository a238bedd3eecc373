// The line of jobs waiting for the network, against the dev chain, Postgres and Redis: a job no
// worker can take waits (however long) and goes out once one can, jobs leave in fair order across
// organizations, and an expired job ends at no charge.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type pg from "pg";
import { ChainBridge, type NodeChainClient, PLANCK_PER_VT } from "../../chain-bridge/index.ts";
import { createPool } from "../../prisma/pool.ts";
import { TaskProducer } from "../../queue/producers.ts";
import { suiteRedisUrl } from "../../test/support/app.ts";
import { type ChainFixture, stakedNode, startChainFixture } from "../../test/support/chain-fixture.ts";
import { newId } from "../ids.ts";
import { JobDispatcher, taskIdOf } from "./job-dispatch.ts";
import { JobEvents } from "./job-events.ts";
import { JobReads } from "./job-reads.ts";
import { JobSettlement } from "./job-settlement.ts";
import { Ledger } from "./ledger.ts";
import { WebhookOutbox } from "./webhooks/outbox.ts";

const PRICE_CENTS = 500;

describe("the line of jobs waiting for a worker", () => {
  let fixture: ChainFixture;
  let pool: pg.Pool;
  let redis: Redis;
  let producer: TaskProducer;
  let ledger: Ledger;
  let events: JobEvents;
  let settlement: JobSettlement;
  let dispatcher: JobDispatcher;
  let reads: JobReads;
  const logged: string[] = [];
  const files = new Map<string, { model: string; dataset: string }>();

  async function organization(name: string): Promise<string> {
    const id = newId("org");
    const db = fixture.database.db;
    await db.organization.create({ data: { id, name } });
    await ledger.topUp(id, 100 * PRICE_CENTS, `top-up:${id}`);
    const file = (purpose: "model" | "dataset") => ({
      id: newId("file"),
      organizationId: id,
      purpose,
      filename: `${purpose}.bin`,
      sizeBytes: 1n,
      sha256: randomBytes(32).toString("hex"),
      details: {},
    });
    const [model, dataset] = [file("model"), file("dataset")];
    await db.file.createMany({ data: [model, dataset] });
    files.set(id, { model: model.id, dataset: dataset.id });
    return id;
  }

  /** A job as Jobs.create records it, created `agoMs` ago. */
  async function job(organizationId: string, agoMs: number, expiresAt: Date | null = null): Promise<string> {
    const id = newId("job");
    await ledger.reserve(organizationId, PRICE_CENTS, `job:${id}:reserve`);
    await fixture.database.db.trainingJob.create({
      data: {
        id,
        organizationId,
        modelFileId: files.get(organizationId)!.model,
        datasetFileId: files.get(organizationId)!.dataset,
        spec: {},
        verificationLevel: "basic",
        quotedCents: BigInt(PRICE_CENTS),
        reservedCents: BigInt(PRICE_CENTS),
        flopsPerStep: 1_000n,
        totalSteps: 10,
        createdAt: new Date(Date.now() - agoMs),
        expiresAt,
      },
    });
    return id;
  }

  async function row(id: string) {
    return fixture.database.db.trainingJob.findUniqueOrThrow({ where: { id } });
  }

  async function eventTypes(id: string): Promise<string[]> {
    const rows = await fixture.database.db.jobEvent.findMany({
      where: { jobId: id },
      orderBy: { id: "asc" },
    });
    return rows.map((event) => event.type);
  }

  async function dispatched(id: string): Promise<boolean> {
    const task = await fixture.database.db.task.findUnique({ where: { id: taskIdOf(id) } });
    return task?.chainTaskId !== null && task?.chainTaskId !== undefined;
  }

  async function place(organizationId: string, id: string): Promise<number | null> {
    return (await reads.get(organizationId, id)).queue_position;
  }

  before(async () => {
    fixture = await startChainFixture();
    const db = fixture.database.db;
    ({ pool } = createPool(fixture.database.url, 4));
    const prefix = `test:${randomBytes(4).toString("hex")}`;
    redis = new Redis(suiteRedisUrl(), { keyPrefix: `${prefix}:`, maxRetriesPerRequest: 3 });
    producer = new TaskProducer({ redisUrl: suiteRedisUrl(), prefix });
    ledger = new Ledger(db, pool);
    events = new JobEvents(db, redis);
    const chain = await ChainBridge.create({
      api: fixture.chain.api,
      db,
      operatorSeed: "//Alice",
      tokenUsdRate: "0.01",
    });
    settlement = new JobSettlement({ db, ledger, events, chain, webhooks: new WebhookOutbox(undefined) });
    dispatcher = new JobDispatcher({
      db,
      chain,
      producer,
      events,
      settlement,
      logError: (error, context) => logged.push(`${context}: ${(error as Error).message}`),
    });
    reads = new JobReads(pool);
  });

  after(async () => {
    await producer?.close();
    redis?.disconnect();
    await pool?.end();
    await fixture?.stop();
  });

  let bob: NodeChainClient;

  it("keeps a job no worker can take queued past the old ten-minute limit, then runs it", async () => {
    const organizationId = await organization("patient");
    const id = await job(organizationId, 11 * 60_000);
    await dispatcher.drain();
    await dispatcher.drain();
    assert.equal((await row(id)).status, "queued", "a busy network is no reason to fail the job");
    assert.equal((await row(id)).reservedCents, BigInt(PRICE_CENTS));
    assert.deepEqual(await eventTypes(id), ["job.waiting"], "told once that it waits");
    // The chain's words (pallet, error name, its docs) go to the log; the user reads a typed reason.
    const waiting = await fixture.database.db.jobEvent.findFirstOrThrow({ where: { jobId: id } });
    assert.deepEqual(waiting.data, {
      reason:
        "no_worker_free: no worker of the network is free to take this job yet; it keeps its place in the line and is dispatched when one is",
    });
    assert.ok(
      logged.some((line) => line.includes(id) && line.includes("Compute.NoEligibleWorker")),
      logged.join("\n"),
    );
    assert.equal(await place(organizationId, id), 1);

    // A worker bonded for exactly one task: it takes this job, and then has no capacity left.
    bob = await stakedNode(fixture.chain, "//Bob", { worker: true }, 1_000n);
    await dispatcher.drain();
    assert.ok(await dispatched(id));
    assert.deepEqual(await eventTypes(id), ["job.waiting", "job.dispatched"]);
    assert.equal(await place(organizationId, id), null);
  });

  it("lets jobs out round-robin across organizations, first come first served within one", async () => {
    const busy = await organization("busy");
    const small = await organization("small");
    const busyJobs = [await job(busy, 4_000), await job(busy, 3_000), await job(busy, 2_000)];
    const smallJob = await job(small, 1_000);
    await dispatcher.drain();
    assert.deepEqual(
      await Promise.all([
        place(busy, busyJobs[0]!),
        place(small, smallJob),
        place(busy, busyJobs[1]!),
        place(busy, busyJobs[2]!),
      ]),
      [1, 2, 3, 4],
    );
    const estimate = (await reads.get(small, smallJob)).estimated_start_at;
    assert.ok(estimate === null || Date.parse(estimate) > Date.now() - 1_000);

    // Bob bonds for one more task: the head of the line takes it, nobody jumps ahead of it.
    await bob.bondExtra(1_000n * PLANCK_PER_VT);
    await dispatcher.drain();
    assert.ok(await dispatched(busyJobs[0]!));
    assert.equal(await dispatched(smallJob), false);
    assert.equal(await place(small, smallJob), 1);
  });

  it("ends a job that waited past its expiry, charging nothing", async () => {
    const organizationId = await organization("in a hurry");
    const before = await ledger.balance(organizationId);
    const id = await job(organizationId, 60_000, new Date(Date.now() - 1_000));
    const waiting = await job(organizationId, 0, new Date(Date.now() + 3_600_000));
    await dispatcher.drain();
    const expired = await row(id);
    assert.equal(expired.status, "cancelled");
    assert.equal(expired.chargedCents, 0n);
    assert.match(expired.failureReason ?? "", /expired/);
    assert.ok((await eventTypes(id)).includes("job.expired"));
    assert.equal((await row(waiting)).status, "queued", "a job before its expiry keeps waiting");
    assert.equal(
      (await ledger.balance(organizationId)).available_cents,
      before.available_cents - PRICE_CENTS,
    );
    assert.equal((await reads.get(organizationId, waiting)).expires_at !== null, true);
  });
});
