// The services behind the routes, built once per process from the connections it holds.
// Each route plugin receives the ones it calls as its options (api/routes/index.ts); services
// reach the database, queues and chain.
import { join } from "node:path";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { ChainBridge } from "../../chain-bridge/index.ts";
import type { Config } from "../../config/env.ts";
import type { Database } from "../../prisma/client.ts";
import type { QueueConnection, TaskKind } from "../../queue/names.ts";
import type { QueuePolicy, WebhookPolicy } from "../../queue/policies.ts";
import { TaskProducer } from "../../queue/producers.ts";
import { WebhookQueue } from "../../queue/webhooks.ts";
import { Accounts } from "./accounts.ts";
import { ApiKeys } from "./api-keys.ts";
import { Billing } from "./billing.ts";
import { type BlobStore, FilesystemBlobStore } from "./blobs.ts";
import { DeletedBlobs } from "./deleted-blobs.ts";
import { onBehalfCompletion } from "./delivery-driver.ts";
import { Files } from "./files.ts";
import { IdempotencyRecords } from "./idempotency.ts";
import { Inspector } from "./inspection/inspector.ts";
import { JobDispatcher } from "./job-dispatch.ts";
import { JobEvents } from "./job-events.ts";
import { StartingWeights } from "./job-init.ts";
import type { JobLifecycle } from "./job-lifecycle.ts";
import { JobReads } from "./job-reads.ts";
import { JobReports } from "./job-reports.ts";
import { JobSettlement } from "./job-settlement.ts";
import { Jobs } from "./jobs.ts";
import { Ledger } from "./ledger.ts";
import { LocalCheckout, localCheckoutEnabled, localWebhookSecret } from "./local-checkout.ts";
import { AuditedSegments, type WorkInputsOf } from "./nodes/audited-segments.ts";
import { Audits } from "./nodes/audits.ts";
import { NodeAuthenticator } from "./nodes/authentication.ts";
import { BlobGrants } from "./nodes/blob-grants.ts";
import { BlobReads } from "./nodes/blob-reads.ts";
import { NodeBlobs, type UploadLimits } from "./nodes/blobs.ts";
import { chainReadsOf, type GatewayChainReads } from "./nodes/chain-reads.ts";
import { Deliveries } from "./nodes/deliveries.ts";
import { DisputeEvidence } from "./nodes/dispute-evidence.ts";
import { NodeLeases } from "./nodes/leases.ts";
import { NodeRegistry } from "./nodes/registry.ts";
import { TrainingEvidence } from "./nodes/training-evidence.ts";
import { TrainingTasks } from "./nodes/training-tasks.ts";
import { PublishedTranscripts } from "./nodes/transcripts.ts";
import { PlatformKey } from "./platform-key.ts";
import { Quotes } from "./quotes.ts";
import { Receipts } from "./receipts.ts";
import { StorageQuota } from "./storage-quota.ts";
import { StreamSlots } from "./stream-slots.ts";
import { createStripeClient } from "./stripe.ts";
import { Sweeps } from "./sweeps.ts";
import { VerificationDriver } from "./verification.ts";
import { WebhookDeliveries } from "./webhooks/deliveries.ts";
import { WebhookEndpoints } from "./webhooks/endpoints.ts";
import { WebhookOutbox } from "./webhooks/outbox.ts";

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
  /** With several API processes, whether this one is the leader that dispatches jobs (leadership.ts). */
  dispatchesHere?: () => boolean;
  /** Retries of outgoing webhooks; the default spreads them over a day. */
  webhookPolicy?: WebhookPolicy;
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
  /** Removes deleted files' bytes once nothing needs them; started by the API process. */
  deletedBlobs: DeletedBlobs;
  jobs: Jobs;
  sweeps: Sweeps;
  jobEvents: JobEvents;
  /** The event streams each caller holds open, bounded across instances. */
  streams: StreamSlots;
  /** Takes created jobs to the network; where the chain and queues are. */
  dispatcher?: JobDispatcher;
  /** The node gateway, reporting to JobReports; where the queues are. */
  nodeGateway?: NodeGateway;
  /** The task queues' producer, when the process has queues; closed with the process. */
  producer?: TaskProducer;
  receipts: Receipts;
  /** Takes dispatched jobs through verification and settlement; where the chain and queues are. */
  verification?: VerificationDriver;
  webhookEndpoints: WebhookEndpoints;
  /** Sends queued webhook deliveries once started; where the queues are. */
  webhookDeliveries?: WebhookDeliveries;
}

/**
 * The node gateway: what untrusted nodes may do, checked at the boundary. Nodes authenticate every
 * request with their sr25519 key, lease the work the chain gave them from their own queues, store
 * checkpoints and models in the blob store by hash, and report; these services validate every
 * report before handing it to the jobs service through the JobLifecycle contract.
 */
export interface NodeGateway {
  authenticator: NodeAuthenticator;
  registry: NodeRegistry;
  /** Opens and closes the per-node queue brokers (`start` and `close`). */
  leases: NodeLeases;
  trainingTasks: TrainingTasks;
  audits: Audits;
  blobs: NodeBlobs;
  /** Blob downloads, for nodes leasing work that needs the blob (or granted it). */
  blobReads: BlobReads;
  /** Dispute parties' evidence bundles for the referee (PROTOCOL.md §6.4). */
  disputeEvidence: DisputeEvidence;
  /** Audited segments for whistleblowers in a challenge window (PROTOCOL.md §5.6). */
  auditedSegments: AuditedSegments;
  /** Verifiers' full verdict transcripts, for whistleblowers to name the first wrong leaf (PROTOCOL.md §5.6). */
  transcripts: PublishedTranscripts;
  /** What was delivered for a committed task, for the referee of a delivery challenge (PROTOCOL.md §7). */
  deliveries: Deliveries;
}

export interface NodeGatewayOptions {
  db: Database;
  /** For nonces; its key prefix (if any) isolates them. */
  redis: Redis;
  blobs: BlobStore;
  lifecycle: JobLifecycle;
  queues: QueueConnection;
  policies?: Record<TaskKind, QueuePolicy>;
  /** Largest upload of each kind a node may make, in bytes. */
  limits: UploadLimits;
  /** Background failures (exhausted-task reports) are logged here. */
  logError: (error: unknown, message: string) => void;
  /** Node addresses that may download any blob and read any dispute's evidence: the API's own operator key. */
  trustedReaders?: string[];
  /** Who is party to a dispute, which verdicts are open to challenge; without it those routes answer 503. */
  chain?: GatewayChainReads;
  /** The job-side inputs of a task's work, for whistleblowers' reads of audited segments. */
  workInputs?: WorkInputsOf;
}

export function createNodeGateway(options: NodeGatewayOptions): NodeGateway {
  const { lifecycle } = options;
  const registry = new NodeRegistry(options.db, options.redis);
  const leases = new NodeLeases({
    queues: options.queues,
    registry,
    lifecycle,
    policies: options.policies,
    logError: options.logError,
  });
  const blobs = new NodeBlobs(options.blobs, options.limits);
  const chain = options.chain ?? null;
  const trustedReaders = new Set(options.trustedReaders);
  const grants = new BlobGrants(options.redis, chain);
  return {
    authenticator: new NodeAuthenticator(options.redis),
    registry,
    leases,
    trainingTasks: new TrainingTasks(leases, blobs, new TrainingEvidence(blobs), lifecycle, options.db),
    audits: new Audits(leases, lifecycle, options.db),
    blobs,
    blobReads: new BlobReads(blobs, leases, grants, trustedReaders),
    disputeEvidence: new DisputeEvidence(options.db, blobs, chain, trustedReaders),
    auditedSegments: new AuditedSegments(options.db, registry, chain, options.workInputs ?? null, grants),
    transcripts: new PublishedTranscripts(options.db, registry, chain),
    deliveries: new Deliveries(options.db, blobs, chain, trustedReaders),
  };
}

export function createServices(context: ServiceContext): Services {
  const apiKeys = new ApiKeys(context.db, context.redis);
  const accounts = new Accounts(context.db, apiKeys);
  const blobs = new FilesystemBlobStore(join(context.config.dataDir, "blobs"));
  // One worker inspects uploads and prices models: each task bounded, one at a time.
  const inspector = new Inspector();
  const files = new Files(
    context.db,
    blobs,
    inspector,
    context.config.uploadLimits,
    new StorageQuota(context.db, context.config.storageQuotaBytes),
  );
  const idempotency = new IdempotencyRecords(context.db);
  const ledger = new Ledger(context.db, context.pool);
  const webhookQueue = context.queues ? new WebhookQueue(context.queues, context.webhookPolicy) : undefined;
  const outbox = new WebhookOutbox(webhookQueue);
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
  const billing = new Billing(
    context.db,
    ledger,
    outbox,
    stripe,
    webhookSecret,
    context.config.portalOrigins,
    localCheckout,
  );
  const jobEvents = new JobEvents(context.db, context.redis);
  const producer = context.queues ? new TaskProducer(context.queues) : undefined;
  const settlement = new JobSettlement({
    db: context.db,
    ledger,
    events: jobEvents,
    webhooks: outbox,
    chain: context.chain,
  });
  const quotes = new Quotes(blobs, context.pool, inspector);
  const startingWeights = new StartingWeights(context.db, blobs);
  const jobs = new Jobs({
    db: context.db,
    blobs,
    quotes,
    ledger,
    events: jobEvents,
    reads: new JobReads(context.pool),
    settlement,
    startingWeights,
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
    deletedBlobs: new DeletedBlobs(context.db, blobs, context.logError ?? (() => undefined)),
    jobs,
    sweeps: new Sweeps({ db: context.db, quotes, jobs, events: jobEvents, startingWeights }),
    jobEvents,
    // A stream renews its slot on every heartbeat (15 s); three missed ones free it.
    streams: new StreamSlots(context.redis, context.config.maxEventStreamsPerKey, 45_000),
    receipts,
    webhookEndpoints: new WebhookEndpoints(context.db, outbox, context.config.production),
  };
  if (webhookQueue) {
    services.webhookDeliveries = new WebhookDeliveries({
      db: context.db,
      queue: webhookQueue,
      checkAddresses: context.config.production,
      logError: context.logError ?? (() => undefined),
    });
  }
  if (context.queues && producer) {
    services.producer = producer;
    const reports = new JobReports({
      db: context.db,
      events: jobEvents,
      settlement,
      chain: context.chain,
      logError: context.logError ?? (() => undefined),
    });
    const limits = {
      checkpointBytes: context.config.uploadLimits.model,
      modelBytes: context.config.uploadLimits.model,
      // One checkpoint and one operator's inputs, base64 in JSON: a few checkpoints' worth.
      evidenceBytes: 4 * context.config.uploadLimits.model,
    };
    const evidence = new TrainingEvidence(new NodeBlobs(blobs, limits));
    if (context.chain) {
      const dispatcher = new JobDispatcher({
        db: context.db,
        chain: context.chain,
        producer,
        events: jobEvents,
        settlement,
        ...(context.dispatchesHere ? { dispatchesHere: context.dispatchesHere } : {}),
        logError: context.logError ?? (() => undefined),
      });
      services.dispatcher = dispatcher;
      services.verification = new VerificationDriver({
        db: context.db,
        chain: context.chain,
        producer,
        dispatcher,
        settlement,
        receipts,
        events: jobEvents,
        logError: context.logError ?? (() => undefined),
        verifyingDeadlineMs: context.config.verifyingDeadlineMs,
        unassignedDeadlineMs: context.config.unassignedDeadlineMs,
        completion: onBehalfCompletion(evidence, reports),
      });
    }
    services.nodeGateway = createNodeGateway({
      db: context.db,
      redis: context.redis,
      blobs,
      lifecycle: reports,
      queues: context.queues,
      limits,
      logError: context.logError ?? (() => undefined),
      trustedReaders: context.chain ? [context.chain.operatorAddress] : [],
      ...(context.chain ? { chain: chainReadsOf(context.chain) } : {}),
      ...(services.dispatcher
        ? { workInputs: services.dispatcher.workInputs.bind(services.dispatcher) }
        : {}),
    });
  }
  return services;
}

/**
 * Stops what the services run in the background: queue connections, the gateway's brokers,
 * subscriptions, the inspection worker.
 */
export async function closeServices(services: Services): Promise<void> {
  await services.verification?.stop();
  await services.deletedBlobs.stop();
  await services.nodeGateway?.leases.close();
  await services.producer?.close();
  await services.webhookDeliveries?.close();
  await services.jobEvents.close();
  await services.files.close();
}
