// Outgoing webhook deliveries on BullMQ: producing (the job id is the delivery id, so queueing the
// same delivery twice, after a crash or on resume, adds it once) and consuming, with BullMQ's
// exponential backoff doing the retries.
import { Queue, type Job as QueuedJob, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { closeWithin } from "./closing.ts";
import { type QueueConnection, WEBHOOK_QUEUE } from "./names.ts";
import type { WebhookDeliveryPayload } from "./payloads.ts";
import { WEBHOOK_POLICY, type WebhookPolicy } from "./policies.ts";
import { bullmqConnection } from "./redis.ts";

export interface DeliveryAttempt {
  /** 1 for the first attempt. */
  number: number;
  /** No retry follows this one, whatever its outcome. */
  last: boolean;
}

/** Sends one delivery; throwing schedules the next attempt (unless this was the last). */
export type DeliveryHandler = (payload: WebhookDeliveryPayload, attempt: DeliveryAttempt) => Promise<void>;

export class WebhookQueue {
  private readonly redis: Redis;
  private readonly queue: Queue<WebhookDeliveryPayload>;
  private worker: Worker<WebhookDeliveryPayload> | undefined;
  private workerRedis: Redis | undefined;

  constructor(
    private readonly connection: QueueConnection,
    readonly policy: WebhookPolicy = WEBHOOK_POLICY,
  ) {
    this.redis = bullmqConnection(connection.redisUrl);
    this.queue = new Queue(WEBHOOK_QUEUE, { connection: this.redis, prefix: connection.prefix });
  }

  async enqueue(deliveryId: string): Promise<void> {
    await this.queue.add(
      "delivery",
      { deliveryId },
      {
        jobId: deliveryId,
        attempts: this.policy.attempts,
        backoff: { type: "exponential", delay: this.policy.backoffMs },
        removeOnComplete: { age: this.policy.keepFinishedSeconds },
        removeOnFail: { age: this.policy.keepFinishedSeconds },
      },
    );
  }

  /** Starts consuming in this process; `onError` hears failures of the worker itself. */
  consume(handler: DeliveryHandler, onError: (error: unknown) => void): void {
    if (this.worker) return;
    this.workerRedis = bullmqConnection(this.connection.redisUrl);
    this.worker = new Worker<WebhookDeliveryPayload>(
      WEBHOOK_QUEUE,
      (job: QueuedJob<WebhookDeliveryPayload>) => {
        const number = job.attemptsMade + 1;
        return handler(job.data, { number, last: number >= (job.opts.attempts ?? 1) });
      },
      {
        connection: this.workerRedis,
        prefix: this.connection.prefix,
        concurrency: this.policy.concurrency,
      },
    );
    this.worker.on("error", onError);
  }

  async close(): Promise<void> {
    await closeWithin(
      async () => {
        // Forced: a delivery cut short is retried from its outbox row, never lost.
        await this.worker?.close(true);
        await this.queue.close();
      },
      () => {
        this.workerRedis?.disconnect();
        this.redis.disconnect();
      },
    );
  }
}
