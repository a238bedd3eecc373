// The verification driver wired as the API wires it (dispatcher, settlement, ledger, receipts), over
// a bridge fixture's dev chain and database, with a Redis key prefix and a data directory of its
// own: what the driver's tests run against.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { newId } from "../../api/ids.ts";
import { onBehalfCompletion } from "../../api/services/delivery-driver.ts";
import { JobDispatcher, taskIdOf } from "../../api/services/job-dispatch.ts";
import { JobEvents } from "../../api/services/job-events.ts";
import { JobReports } from "../../api/services/job-reports.ts";
import { JobSettlement } from "../../api/services/job-settlement.ts";
import { Ledger } from "../../api/services/ledger.ts";
import type { NodeBlobs } from "../../api/services/nodes/blobs.ts";
import { TrainingEvidence } from "../../api/services/nodes/training-evidence.ts";
import { PlatformKey } from "../../api/services/platform-key.ts";
import { Receipts } from "../../api/services/receipts.ts";
import { VerificationDriver } from "../../api/services/verification.ts";
import { WebhookOutbox } from "../../api/services/webhooks/outbox.ts";
import { loadConfig } from "../../config/env.ts";
import { createPool } from "../../prisma/pool.ts";
import { TaskProducer } from "../../queue/producers.ts";
import { suiteRedisUrl } from "./app.ts";
import { type BridgeFixture, sampleSpec, sealBlocks, seedJob } from "./chain-fixture.ts";

export interface DriverRig {
  driver: VerificationDriver;
  settlement: JobSettlement;
  ledger: Ledger;
  /**
   * Passes of the driver, one block sealed between them, until `done` holds (at most `passes`);
   * `eachPass` runs after every pass, for the other parties the test plays (a referee, say).
   */
  driveUntil(
    done: () => Promise<boolean>,
    what: string,
    options?: { passes?: number; eachPass?: () => Promise<unknown> },
  ): Promise<void>;
  /** Stops the driver and closes what the rig opened (not the fixture). */
  close(): Promise<void>;
}

/**
 * `blobs`: the blob store the gateway keeps checkpoints and models in; with it the driver completes
 * a task on its worker's behalf after a Delivered ruling, as the API wires it (services/index.ts).
 */
export function driverRig(
  fixture: BridgeFixture,
  logError: (error: unknown) => void,
  blobs?: NodeBlobs,
): DriverRig {
  const { db } = fixture.database;
  const dataDir = mkdtempSync(join(tmpdir(), "veritrain-driver-"));
  const prefix = `test:${randomBytes(4).toString("hex")}`;
  const redis = new Redis(suiteRedisUrl(), { keyPrefix: `${prefix}:` });
  const producer = new TaskProducer({ redisUrl: suiteRedisUrl(), prefix });
  const { pool } = createPool(fixture.database.url, 2);
  const ledger = new Ledger(db, pool);
  const events = new JobEvents(db, redis);
  const chain = fixture.bridge;
  const settlement = new JobSettlement({ db, ledger, events, chain, webhooks: new WebhookOutbox(undefined) });
  const config = loadConfig({});
  const reports = new JobReports({ db, events, settlement, chain, logError });
  const driver = new VerificationDriver({
    db,
    chain,
    producer,
    dispatcher: new JobDispatcher({ db, chain, producer, events, settlement }),
    settlement,
    receipts: new Receipts(db, PlatformKey.load(undefined, dataDir), fixture.devnet.genesisHash),
    events,
    logError,
    verifyingDeadlineMs: config.verifyingDeadlineMs,
    unassignedDeadlineMs: config.unassignedDeadlineMs,
    ...(blobs ? { completion: onBehalfCompletion(new TrainingEvidence(blobs), reports) } : {}),
  });
  return {
    driver,
    settlement,
    ledger,
    async driveUntil(done, what, { passes = 60, eachPass } = {}) {
      for (let i = 0; i < passes; i++) {
        await driver.tick();
        await eachPass?.();
        if (await done()) return;
        await sealBlocks(fixture.chain, 1);
        await sleep(50);
      }
      assert.fail(`the driver never got to: ${what}`);
    },
    async close() {
      await driver.stop();
      await producer.close();
      redis.disconnect();
      await pool.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A paid-for job (funds topped up and reserved) with a model file of hash `modelSha256` (random
 * when not given) and a dataset file, checkpoints every 5 steps, and its escrow opened on chain.
 * Its status is `running`: the test opened the escrow itself, so the dispatcher must not take it.
 */
export async function escrowedJob(fixture: BridgeFixture, ledger: Ledger, modelSha256?: string) {
  const { db } = fixture.database;
  const jobId = await seedJob(fixture.database);
  const job = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
  await ledger.topUp(job.organizationId, 1_000, `top-up:${jobId}`);
  await ledger.reserve(job.organizationId, Number(job.reservedCents), `job:${jobId}:reserve`);
  const file = (purpose: "model" | "dataset") =>
    db.file.create({
      data: {
        id: newId("file"),
        organizationId: job.organizationId,
        purpose,
        filename: purpose === "model" ? "model.onnx" : "data.npy",
        sizeBytes: 1n,
        sha256: (purpose === "model" && modelSha256) || randomBytes(32).toString("hex"),
        details: { format: "npy" },
      },
    });
  const [model, dataset] = await Promise.all([file("model"), file("dataset")]);
  await db.trainingJob.update({
    where: { id: jobId },
    data: {
      modelFileId: model.id,
      datasetFileId: dataset.id,
      spec: { checkpoint_every: 5 },
      status: "running",
    },
  });
  const taskId = taskIdOf(jobId);
  const escrow = await fixture.bridge.openEscrow({
    taskId,
    jobId,
    usdCents: 400n,
    spec: sampleSpec({ verificationLevel: 1 }),
  });
  return { jobId, taskId, organizationId: job.organizationId, escrow };
}
