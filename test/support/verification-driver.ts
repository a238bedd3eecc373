// The verification driver wired as the API wires it (dispatcher, settlement, ledger, receipts), over
// a bridge fixture's dev chain and database, with a Redis key prefix and a data directory of its
// own: what the driver's tests run against.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { onBehalfCompletion } from "../../api/services/delivery-driver.ts";
import { JobDispatcher } from "../../api/services/job-dispatch.ts";
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
import type { BridgeFixture } from "./chain-fixture.ts";

export interface DriverRig {
  driver: VerificationDriver;
  settlement: JobSettlement;
  ledger: Ledger;
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
    async close() {
      await driver.stop();
      await producer.close();
      redis.disconnect();
      await pool.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
