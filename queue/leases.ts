// The consuming side, run by the node gateway on behalf of nodes that never touch Redis: one broker
// per node and kind of work, over that node's queue (names.ts). A lease is a BullMQ job fetched
// with MANUAL processing: the gateway picks a random lock token, hands
// "<kind>.<job id>.<token>" to the node, and every report the node makes extends the job's lock
// with that token. A node that goes silent lets the lock lapse; the stalled checker running here
// then puts the job back in the queue, and the next claim resumes from the checkpoints stored on it.
import { randomBytes } from "node:crypto";
import { Job, Queue, QueueEvents, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { CheckpointRef } from "../protocol/node-wire.ts";
import { closeWithin } from "./closing.ts";
import { LeaseError } from "./errors.ts";
import { type QueueConnection, queueNameOf, type TaskKind } from "./names.ts";
import type { LeasedJobData, TaskPayloads } from "./payloads.ts";
import { QUEUE_POLICIES, type QueuePolicy } from "./policies.ts";
import { bullmqConnection } from "./redis.ts";

export interface Lease<K extends TaskKind> {
  id: string;
  kind: K;
  jobId: string;
  /** Milliseconds since the epoch after which the lease lapses unless renewed. */
  expiresAt: number;
  /** 1 for the first node to hold the task, then one more for each retry or lapsed lease. */
  attempt: number;
  data: LeasedJobData<TaskPayloads[K]>;
}

/** Called once per task that failed for good: attempts exhausted or too many lapsed leases. */
export type ExhaustedListener = (jobId: string, reason: string) => Promise<void>;

const LEASE_ID = /^(training|audit)\.([A-Za-z0-9_-]{1,128})\.([0-9a-f]{32})$/;
// Claims poll at least this often even without a queue event: delayed retries become due
// without one.
const POLL_MS = 1_000;

interface ParsedLease {
  kind: TaskKind;
  jobId: string;
  token: string;
}

export function parseLeaseId(id: string): ParsedLease {
  const match = LEASE_ID.exec(id);
  if (!match) {
    throw new LeaseError(
      "MALFORMED_LEASE",
      `"${id.slice(0, 200)}" is not a lease id; use the lease returned by a claim`,
    );
  }
  return { kind: match[1] as TaskKind, jobId: match[2]!, token: match[3]! };
}

function lost(id: string): LeaseError {
  return new LeaseError(
    "LEASE_LOST",
    `lease ${id} is no longer held: it lapsed, finished, or belongs to another node; claim a new task`,
  );
}

/** Every blob a queued task's node must download to do it. */
function referencedBlobs(data: LeasedJobData<TaskPayloads[TaskKind]>): Set<string> {
  const { task } = data;
  const blobs = new Set([task.model_sha256, task.dataset_sha256, ...data.checkpoints.map((c) => c.sha256)]);
  if ("from" in task) {
    blobs.add(task.from.sha256);
    blobs.add(task.to.sha256);
  }
  return blobs;
}

export class LeaseBroker<K extends TaskKind> {
  private readonly redis: Redis;
  // BullMQ never closes a connection it was given, so both are closed here.
  private readonly eventsRedis: Redis;
  private readonly queue: Queue<LeasedJobData<TaskPayloads[K]>>;
  private readonly worker: Worker<LeasedJobData<TaskPayloads[K]>>;
  private readonly events: QueueEvents;
  private readonly wakers = new Set<() => void>();
  private closing = false;
  private readonly exhaustedListeners: ExhaustedListener[] = [];
  private errorListener: (error: unknown) => void = () => undefined;

  constructor(
    readonly kind: K,
    /** The node whose queue this is: the only holder its leases go to. */
    readonly node: string,
    connection: QueueConnection,
    readonly policy: QueuePolicy = QUEUE_POLICIES[kind],
  ) {
    const name = queueNameOf(kind, node);
    // Named after the key prefix, like the connections BullMQ names itself, so CLIENT LIST shows
    // every connection a gateway holds.
    this.redis = bullmqConnection(connection.redisUrl, `${connection.prefix}:lease-broker`);
    const base = { connection: this.redis, prefix: connection.prefix };
    this.queue = new Queue(name, base);
    this.worker = new Worker(name, null, {
      ...base,
      autorun: false,
      lockDuration: policy.lockMs,
      stalledInterval: policy.stalledIntervalMs,
      maxStalledCount: policy.maxStalledCount,
    });
    this.eventsRedis = this.redis.duplicate();
    this.events = new QueueEvents(name, { ...base, connection: this.eventsRedis });
    this.events.on("waiting", () => this.wakeAll());
    this.events.on("failed", ({ jobId, failedReason }) => {
      this.reportExhausted(jobId, failedReason).catch((error: unknown) => this.errorListener(error));
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.worker.waitUntilReady(), this.events.waitUntilReady()]);
    await this.worker.startStalledCheckTimer();
  }

  onExhausted(listener: ExhaustedListener): void {
    this.exhaustedListeners.push(listener);
  }

  /** Where failures of background work (exhausted-task reports) go; the gateway logs them. */
  onError(listener: (error: unknown) => void): void {
    this.errorListener = listener;
  }

  /** Waits up to `waitMs` for a task and leases it to the node; null when none came. */
  async claim(waitMs: number, signal?: AbortSignal): Promise<Lease<K> | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const token = randomBytes(16).toString("hex");
      const job = await this.worker.getNextJob(token, { block: false });
      if (job) {
        const data = { ...job.data, holder: this.node };
        await job.updateData(data);
        return {
          id: `${this.kind}.${job.id}.${token}`,
          kind: this.kind,
          jobId: job.id!,
          expiresAt: Date.now() + this.policy.lockMs,
          attempt: job.attemptsStarted,
          data,
        };
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0 || signal?.aborted || this.closing) return null;
      await this.sleep(Math.min(remaining, POLL_MS), signal);
      // A broker closed under a waiting claim (evicted from the gateway's cache, or shutting down)
      // answers "nothing yet": the node claims again and reaches a broker that is open.
      if (this.closing) return null;
    }
  }

  /** Extends the lease (any report is a heartbeat) and returns the task as stored now. */
  async renew(leaseId: string): Promise<Lease<K>> {
    const { job, token } = await this.held(leaseId);
    if ((await job.extendLock(token, this.policy.lockMs)) !== 1) throw lost(leaseId);
    return this.leaseOf(leaseId, job);
  }

  /** Records a checkpoint the node stored, so a later claim resumes from it. */
  async recordCheckpoint(leaseId: string, checkpoint: CheckpointRef): Promise<Lease<K>> {
    const lease = await this.renew(leaseId);
    const checkpoints = [
      ...lease.data.checkpoints.filter((c) => c.step !== checkpoint.step),
      checkpoint,
    ].sort((a, b) => a.step - b.step);
    const data = { ...lease.data, checkpoints };
    const job = await this.job(leaseId);
    await job.updateData(data);
    return { ...lease, data };
  }

  async complete(leaseId: string, result: unknown): Promise<void> {
    const { job, token } = await this.held(leaseId);
    try {
      await job.moveToCompleted(result, token, false);
    } catch {
      throw lost(leaseId);
    }
  }

  /** Gives the task up; it is retried after a backoff while attempts remain. */
  async fail(leaseId: string, reason: string): Promise<{ retried: boolean }> {
    const { job, token } = await this.held(leaseId);
    try {
      await job.moveToFailed(new Error(reason), token, false);
    } catch {
      throw lost(leaseId);
    }
    return { retried: (await job.getState()) !== "failed" };
  }

  /**
   * Whether a task this node holds a live lease on right now references the blob `sha256`: its
   * model, dataset, stored checkpoints (a resumed task's start among them), or an audit's segment
   * ends. A lease that lapsed no longer counts, even before the stalled checker takes the task back.
   */
  async leasedBlob(sha256: string): Promise<boolean> {
    const active = await this.queue.getActive();
    for (const job of active) {
      if (job.data.holder !== this.node || !referencedBlobs(job.data).has(sha256)) continue;
      if ((await this.redis.exists(`${this.queue.toKey(job.id!)}:lock`)) === 1) return true;
    }
    return false;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wakeAll();
    await closeWithin(
      async () => {
        await this.worker.close(true);
        await Promise.all([this.events.close(), this.queue.close()]);
      },
      () => {
        this.eventsRedis.disconnect();
        this.redis.disconnect();
      },
    );
  }

  private async job(leaseId: string): Promise<Job<LeasedJobData<TaskPayloads[K]>>> {
    const { jobId } = parseLeaseId(leaseId);
    const job = await Job.fromId<LeasedJobData<TaskPayloads[K]>>(this.queue, jobId);
    if (!job) throw lost(leaseId);
    return job;
  }

  private async held(leaseId: string) {
    const parsed = parseLeaseId(leaseId);
    if (parsed.kind !== this.kind) throw lost(leaseId);
    const job = await this.job(leaseId);
    if (job.data.holder !== this.node) throw lost(leaseId);
    return { job, token: parsed.token };
  }

  private leaseOf(leaseId: string, job: Job<LeasedJobData<TaskPayloads[K]>>): Lease<K> {
    return {
      id: leaseId,
      kind: this.kind,
      jobId: job.id!,
      expiresAt: Date.now() + this.policy.lockMs,
      attempt: job.attemptsStarted,
      data: job.data,
    };
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }

  // Every gateway process sees the event; a key set once makes the report happen once.
  private async reportExhausted(jobId: string, reason: string): Promise<void> {
    const key = `${this.queue.qualifiedName}:exhausted-reported:${jobId}`;
    const first = await this.redis.set(key, "1", "EX", this.policy.keepFinishedSeconds, "NX");
    if (first !== "OK") return;
    for (const listener of this.exhaustedListeners) await listener(jobId, reason);
  }
}
