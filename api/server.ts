// Runs the API process: connects the services, applies pending migrations, listens, and on
// SIGTERM/SIGINT stops accepting, lets in-flight requests finish, then closes connections.
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import pino from "pino";
import { ChainBridge, type ChainConnection, connectChain, type EventWatcher } from "../chain-bridge/index.ts";
import type { Config } from "../config/env.ts";
import { createDatabase, type Database } from "../prisma/client.ts";
import { migrate } from "../prisma/migrate.ts";
import { createPool } from "../prisma/pool.ts";
import { DEFAULT_QUEUE_PREFIX } from "../queue/names.ts";
import { type App, buildApp } from "./app.ts";
import { closeServices, createServices, type Services } from "./services/index.ts";
import { Leadership } from "./services/leadership.ts";

// How often dispatched jobs are moved along the protocol: a block or two of the dev chain.
const VERIFICATION_PASS_MS = 1_000;
const WATCHER_RETRY_MS = 1_000;
// How often deleted files' bytes are looked for; they wait a grace period anyway (deleted-blobs.ts).
const DELETED_BLOBS_SWEEP_MS = 5 * 60 * 1000;

export interface ServiceUrls {
  databaseUrl: string;
  redisUrl: string;
  chainWsUrl: string;
}

export interface RunningApi {
  app: App;
  services: Services;
  /** Whether this process currently runs the background loops. */
  readonly isLeader: boolean;
  url: string;
  close(): Promise<void>;
}

export interface ApiProcessOptions {
  /** BullMQ key prefix of the task queues (default "veritrain"): separates deployments sharing a Redis. */
  queuePrefix?: string;
  /** How often dispatched jobs are moved along the protocol. */
  verificationPassMs?: number;
  /** How often a standby API process tries to become the leader (and the leader checks its lease). */
  leaderPeriodMs?: number;
  /**
   * Where the process's log lines go (default stdout); a benchmark running the API in its own
   * process sends them to stderr so that its stdout stays one JSON document.
   */
  logTo?: pino.DestinationStream;
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
  const logger = pino({ level: config.logLevel }, options.logTo ?? pino.destination(1));
  const logError = (error: unknown, message: string) => logger.error({ err: error }, message);
  let watcher: EventWatcher | null = null;
  // The loops that move jobs along run in one API process at a time, whichever holds the lease.
  const leadership = new Leadership({
    databaseUrl: urls.databaseUrl,
    periodMs: options.leaderPeriodMs,
    logError,
    onElected: async () => {
      term = watchChain();
      services.verification?.start(options.verificationPassMs ?? VERIFICATION_PASS_MS);
      // Jobs left queued by a previous leader (a crash between reserving and escrowing) go out now.
      services.dispatcher
        ?.drain()
        .catch((error: unknown) => logger.error({ err: error }, "resuming queued jobs failed"));
      logger.info("leading: this process runs the verification driver and the chain event watcher");
    },
    onDeposed: async () => {
      logger.warn("no longer leading: the verification driver and the chain event watcher stop here");
      term?.abort();
      term = null;
      await services.verification?.stop();
      await watcher?.stop();
      watcher = null;
    },
  });
  let term: AbortController | null = null;
  // The journal of Compute events feeds the receipts' anchors and the audits' records. Its first
  // catch-up may be long (a new leader replays what its predecessor left) or fail (the chain is
  // down): it is retried in the background, so an election never waits on the chain.
  const watchChain = (): AbortController => {
    const controller = new AbortController();
    void (async () => {
      while (!controller.signal.aborted && watcher === null) {
        try {
          const started = await bridge.watch(undefined, {
            onError: (error) => logger.error({ err: error }, "applying chain events failed; retrying"),
          });
          if (controller.signal.aborted) await started.stop();
          else watcher = started;
        } catch (error) {
          logger.error({ err: error }, "starting the chain event watcher failed; retrying");
          await sleep(WATCHER_RETRY_MS);
        }
      }
    })();
    return controller;
  };
  const services = createServices({
    config,
    db,
    pool,
    redis,
    chain: bridge,
    queues: { redisUrl: urls.redisUrl, prefix: options.queuePrefix ?? DEFAULT_QUEUE_PREFIX },
    logError,
    dispatchesHere: () => leadership.isLeader,
  });
  await services.nodeGateway?.leases.start();
  await services.webhookDeliveries?.start();
  await leadership.start();
  services.deletedBlobs.start(DELETED_BLOBS_SWEEP_MS);

  const app = await buildApp({
    logLevel: config.logLevel,
    trustProxy: config.trustProxy,
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
      rateLimits: { redis, limits: config.rateLimits },
    },
  });
  const url = await app.listen({ port: config.port, host: config.host });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await app.close();
      await leadership.stop();
      await closeServices(services);
      await chain.close();
      redisProbe.disconnect();
      redis.disconnect();
      await pool.end();
      await db.$disconnect();
    })();
    return closing;
  };
  return {
    app,
    services,
    get isLeader() {
      return leadership.isLeader;
    },
    url,
    close,
  };
}
