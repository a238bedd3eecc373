// Builds the real application for a test file: its own Postgres schema, the suite's Redis under
// a key prefix of its own, and the same services `veritrain api` wires, with no HTTP listener
// (requests go through `app.inject`) unless a test asks for one.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type pg from "pg";
import { type App, buildApp } from "../../api/app.ts";
import type { RateLimitsOptions } from "../../api/plugins/rate-limits.ts";
import {
  closeServices,
  createServices,
  type ServiceContext,
  type Services,
} from "../../api/services/index.ts";
import { type Config, loadConfig } from "../../config/env.ts";
import { createPool } from "../../prisma/pool.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";

export interface TestApp {
  app: App;
  services: Services;
  database: TestDatabase;
  /** Plain `pg` connections to the same schema, as the services get them. */
  pool: pg.Pool;
  redis: Redis;
  config: Config;
  /** Unique per test file: prefix Redis keys and BullMQ queues with it. */
  prefix: string;
  /** The budgets the app counts, in this test file's Redis keys. */
  rateLimits: RateLimitsOptions;
  close(): Promise<void>;
}

export function suiteRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error("REDIS_URL is not set: run tests with `npm test`, which provides one");
  return url;
}

export interface TestAppOptions {
  /** Give the services BullMQ queues (under the test's prefix): webhook deliveries, the node gateway. */
  queues?: boolean;
  webhookPolicy?: ServiceContext["webhookPolicy"];
}

export async function createTestApp(
  overrides: Partial<Config> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  const database = await createTestDatabase();
  const prefix = `test:${randomBytes(4).toString("hex")}`;
  const redis = new Redis(suiteRedisUrl(), { keyPrefix: `${prefix}:`, maxRetriesPerRequest: 3 });
  // Blobs and keys go to a directory of the test file's own unless the test names one.
  const ownDataDir = overrides.dataDir ? undefined : mkdtempSync(join(tmpdir(), "veritrain-test-"));
  const config: Config = {
    ...loadConfig({}),
    ...(ownDataDir ? { dataDir: ownDataDir } : {}),
    databaseUrl: database.url,
    redisUrl: suiteRedisUrl(),
    ...overrides,
  };
  const { pool } = createPool(database.url, 4);
  const services = createServices({
    config,
    db: database.db,
    pool,
    redis,
    ...(options.queues ? { queues: { redisUrl: suiteRedisUrl(), prefix } } : {}),
    ...(options.webhookPolicy ? { webhookPolicy: options.webhookPolicy } : {}),
  });
  const up = async () => undefined;
  const rateLimits = { redis, limits: config.rateLimits };
  const app = await buildApp({
    deps: { services, probes: { database: up, redis: up, chain: up }, rateLimits },
    trustProxy: config.trustProxy,
  });
  await app.ready();
  return {
    app,
    services,
    database,
    pool,
    redis,
    config,
    prefix,
    rateLimits,
    async close() {
      await app.close();
      await closeServices(services);
      redis.disconnect();
      await pool.end();
      await database.drop();
      if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
    },
  };
}
