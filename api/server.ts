// Runs the API process: connects the services, applies pending migrations, listens, and on
// SIGTERM/SIGINT stops accepting, lets in-flight requests finish, then closes connections.
import { Redis } from "ioredis";
import pino from "pino";
import { ChainBridge, type ChainConnection, connectChain } from "../chain-bridge/index.ts";
import type { Config } from "../config/env.ts";
import { createDatabase, type Database } from "../prisma/client.ts";
import { migrate } from "../prisma/migrate.ts";
import { createPool } from "../prisma/pool.ts";
import { DEFAULT_QUEUE_PREFIX } from "../queue/names.ts";
import { type App, buildApp } from "./app.ts";
import { closeServices, createServices, type Services } from "./services/index.ts";

// How often dispatched jobs are moved along the protocol: a block or two of the dev chain.
const VERIFICATION_PASS_MS = 1_000;

export interface ServiceUrls {
  databaseUrl: string;
  redisUrl: string;
  chainWsUrl: string;
}

export interface RunningApi {
  app: App;
  services: Services;
  url: string;
  close(): Promise<void>;
}

export interface ApiProcessOptions {
  /** BullMQ key prefix of the task queues (default "veritrain"): separates deployments sharing a Redis. */
  queuePrefix?: string;
  /** How often dispatched jobs are moved along the protocol. */
  verificationPassMs?: number;
}

export async function startApi(
  config: Config,
  urls: ServiceUrls,
  options: ApiProcessOptions = {},
): Promise<RunningApi> {
  await migrate(urls.databaseUrl);
  const db: Database = createDatabase(urls.databaseUrl);
  const { pool } = createPool(urls.databaseUrl);
  // A dedicated connection that fails fast instead of queueing, so health sees an outage at once.
  const redisProbe = new Redis(urls.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: false,
  });
  redisProbe.on("error", () => undefined);
  const redis = new Redis(urls.redisUrl, { maxRetriesPerRequest: 3 });
  const chain: ChainConnection = await connectChain(urls.chainWsUrl);
  const bridge = await ChainBridge.create({
    api: chain.api,
    db,
    operatorSeed: config.operatorSeed,
    tokenUsdRate: config.tokenUsdRate,
  });
  const logger = pino({ level: config.logLevel });
  const services = createServices({
    config,
    db,
    pool,
    redis,
    chain: bridge,
    queues: { redisUrl: urls.redisUrl, prefix: options.queuePrefix ?? DEFAULT_QUEUE_PREFIX },
    logError: (error, message) => logger.error({ err: error }, message),
  });
  await services.nodeGateway?.leases.start();
  // The journal of Compute events feeds the receipts' anchors and the audits' records.
  const watcher = await bridge.watch(undefined, {
    onError: (error) => logger.error({ err: error }, "applying chain events failed; retrying"),
  });
  services.verification?.start(options.verificationPassMs ?? VERIFICATION_PASS_MS);
  // Jobs left queued by a previous process (a crash between reserving and escrowing) go out now.
  services.dispatcher?.drainLater((error) => logger.error({ err: error }, "resuming queued jobs failed"));

  const app = await buildApp({
    logLevel: config.logLevel,
    deps: {
      services,
      probes: {
        database: async () => {
          await db.$queryRaw`SELECT 1`;
          return undefined;
        },
        redis: async () => {
          await redisProbe.ping();
          return undefined;
        },
        chain: () => chain.probe(),
      },
    },
  });
  const url = await app.listen({ port: config.port, host: config.host });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await app.close();
      await closeServices(services);
      await watcher.stop();
      await chain.close();
      redisProbe.disconnect();
      redis.disconnect();
      await pool.end();
      await db.$disconnect();
    })();
    return closing;
  };
  return { app, services, url, close };
}
