// The services behind the routes, built once per process from the connections it holds.
// Routes reach them through `app.deps.services`; services reach the database, queues and chain.
import { join } from "node:path";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { ChainBridge } from "../../chain-bridge/index.ts";
import type { Config } from "../../config/env.ts";
import type { Database } from "../../prisma/client.ts";
import type { QueueConnection } from "../../queue/names.ts";
import { TaskProducer } from "../../queue/producers.ts";
import { Accounts } from "./accounts.ts";
import { ApiKeys } from "./api-keys.ts";
import { Billing } from "./billing.ts";
import { FilesystemBlobStore } from "./blobs.ts";
import { Files } from "./files.ts";
import { IdempotencyRecords } from "./idempotency.ts";
import { Inspector } from "./inspection/inspector.ts";
import { JobEvents } from "./job-events.ts";
import { JobReads } from "./job-reads.ts";
import { Jobs } from "./jobs.ts";
import { Ledger } from "./ledger.ts";
import { LocalCheckout, localCheckoutEnabled, localWebhookSecret } from "./local-checkout.ts";
import { NodeGateway } from "./node-gateway.ts";
import { PlatformKey } from "./platform-key.ts";
import { Quotes } from "./quotes.ts";
import { Receipts } from "./receipts.ts";
import { createStripeClient } from "./stripe.ts";
import { VerificationDriver } from "./verification.ts";

export interface ServiceContext {
  config: Config;
  db: Database;
  /** Plain Postgres connections for hot reads: one Prisma query costs several `pg` ones (docs/api.md). */
  pool: pg.Pool;
  /** A shared connection for caches and pub/sub publishing (BullMQ makes its own). */
  redis: Redis;
  /** The chain bridge: absent in a process that does not dispatch jobs. */
  chain?: ChainBridge;
  /** The task queues: with them the process dispatches jobs and serves the node gateway. */
  queues?: QueueConnection;
  /** Where background failures (dispatch, exhausted tasks) are reported. */
  logError?: (error: unknown, message: string) => void;
}

export interface Services {
  accounts: Accounts;
  apiKeys: ApiKeys;
  idempotency: IdempotencyRecords;
  ledger: Ledger;
  billing: Billing;
  /** The payment page a development stack without Stripe serves itself; never in production. */
  localCheckout?: LocalCheckout;
  files: Files;
  jobs: Jobs;
  jobEvents: JobEvents;
  /** The node gateway; built where the jobs service (its JobLifecycle) is, absent elsewhere. */
  nodeGateway?: NodeGateway;
  /** The task queues' producer, when the process has queues; closed with the process. */
  producer?: TaskProducer;
  receipts: Receipts;
  /** Takes dispatched jobs through verification and settlement; where the chain and queues are. */
  verification?: VerificationDriver;
}

export function createServices(context: ServiceContext): Services {
  const apiKeys = new ApiKeys(context.db, context.redis);
  const accounts = new Accounts(context.db, apiKeys);
  const blobs = new FilesystemBlobStore(join(context.config.dataDir, "blobs"));
  const files = new Files(context.db, blobs, new Inspector(), context.config.uploadLimits);
  const idempotency = new IdempotencyRecords(context.db);
  const ledger = new Ledger(context.db, context.pool);
  const stripe = createStripeClient(context.config);
  const local = localCheckoutEnabled(context.config);
  const webhookSecret =
    context.config.stripeWebhookSecret ?? (local ? localWebhookSecret(context.config.dataDir) : undefined);
  // The local checkout delivers its events to the billing service's own webhook handler.
  const localCheckout: LocalCheckout | undefined =
    local && webhookSecret
      ? new LocalCheckout(context.db, webhookSecret, (body, signature) =>
          billing.handleWebhook(body, signature),
        )
      : undefined;
  const billing = new Billing(context.db, ledger, stripe, webhookSecret, localCheckout);
  const jobEvents = new JobEvents(context.db, context.redis);
  const producer = context.queues ? new TaskProducer(context.queues) : undefined;
  const jobs = new Jobs({
    db: context.db,
    blobs,
    quotes: new Quotes(blobs, context.pool),
    ledger,
    events: jobEvents,
    reads: new JobReads(context.pool),
    ...(context.chain ? { chain: context.chain } : {}),
    ...(producer ? { producer } : {}),
  });
  const receipts = new Receipts(
    context.db,
    PlatformKey.load(context.config.platformSigningKey, context.config.dataDir),
    context.chain?.genesisHash ?? null,
  );
  const services: Services = {
    accounts,
    apiKeys,
    idempotency,
    ledger,
    billing,
    ...(localCheckout ? { localCheckout } : {}),
    files,
    jobs,
    jobEvents,
    receipts,
  };
  if (context.queues && producer) {
    services.producer = producer;
    if (context.chain) {
      services.verification = new VerificationDriver({
        db: context.db,
        chain: context.chain,
        producer,
        jobs,
        receipts,
        events: jobEvents,
        logError: context.logError ?? (() => undefined),
      });
    }
    services.nodeGateway = new NodeGateway({
      db: context.db,
      redis: context.redis,
      blobs,
      lifecycle: jobs,
      queues: context.queues,
      limits: {
        checkpointBytes: context.config.uploadLimits.model,
        modelBytes: context.config.uploadLimits.model,
      },
      logError: context.logError ?? (() => undefined),
    });
  }
  return services;
}

/** Stops what the services run in the background: queue connections, the gateway's brokers, subscriptions. */
export async function closeServices(services: Services): Promise<void> {
  await services.verification?.stop();
  await services.nodeGateway?.close();
  await services.producer?.close();
  await services.jobEvents.close();
}
