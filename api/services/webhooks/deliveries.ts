// Sends queued deliveries: each attempt signs the stored body afresh (a new timestamp, every
// secret still valid), posts it, and records the outcome on the delivery row, which is the
// delivery log a user reads. A failed attempt throws, so BullMQ retries it with its backoff;
// after the last one the delivery is marked failed.
import type { Database } from "../../../prisma/client.ts";
import type { DeliveryAttempt, WebhookQueue } from "../../../queue/webhooks.ts";
import { postWebhook } from "./http-post.ts";
import { signedHeaders } from "./signing.ts";

export class DeliveryFailedError extends Error {
  constructor(deliveryId: string, reason: string) {
    super(`webhook delivery ${deliveryId} failed: ${reason}`);
    this.name = "DeliveryFailedError";
  }
}

export interface WebhookDeliveriesOptions {
  db: Database;
  queue: WebhookQueue;
  /** Refuse private, loopback and link-local receivers: true in production. */
  checkAddresses: boolean;
  logError: (error: unknown, message: string) => void;
}

export class WebhookDeliveries {
  constructor(private readonly options: WebhookDeliveriesOptions) {}

  /** Consumes the queue in this process and queues what a stopped process left pending. */
  async start(): Promise<void> {
    const { queue, logError } = this.options;
    queue.consume(
      ({ deliveryId }, attempt) => this.attempt(deliveryId, attempt),
      (error) => logError(error, "webhook delivery worker failed"),
    );
    const pending = await this.options.db.webhookDelivery.findMany({
      where: { status: "pending" },
      select: { id: true },
    });
    for (const { id } of pending) await queue.enqueue(id);
  }

  async attempt(deliveryId: string, attempt: DeliveryAttempt): Promise<void> {
    const { db } = this.options;
    const delivery = await db.webhookDelivery.findUnique({
      where: { id: deliveryId },
      include: { endpoint: true },
    });
    // Deleted with its endpoint, or already settled by an earlier attempt: nothing to send.
    if (delivery?.status !== "pending") return;
    const { endpoint } = delivery;
    const now = new Date();
    const secrets = [endpoint.secret];
    if (
      endpoint.previousSecret &&
      endpoint.previousSecretExpiresAt &&
      endpoint.previousSecretExpiresAt > now
    ) {
      secrets.push(endpoint.previousSecret);
    }
    const headers = signedHeaders(secrets, delivery.id, Math.floor(now.getTime() / 1000), delivery.payload);
    const outcome = await postWebhook(endpoint.url, headers, delivery.payload, {
      checkAddresses: this.options.checkAddresses,
    });
    const status = outcome.error === null ? "succeeded" : attempt.last ? "failed" : "pending";
    await db.webhookDelivery.update({
      where: { id: delivery.id },
      data: {
        status,
        attempts: attempt.number,
        lastStatusCode: outcome.statusCode,
        lastError: outcome.error,
        lastAttemptAt: now,
      },
    });
    if (outcome.error !== null) throw new DeliveryFailedError(delivery.id, outcome.error);
  }

  async close(): Promise<void> {
    await this.options.queue.close();
  }
}
