// Where the rest of the API announces events. The deliveries are written in the caller's
// transaction, with the change they announce, so an event exists exactly when its change
// committed; they are queued after the commit. A process that stops in between leaves them
// pending, and the next one that starts the delivery worker queues them (deliveries.ts).
import type { Database } from "../../../prisma/client.ts";
import type { Prisma } from "../../../prisma/generated/client.ts";
import type { WebhookQueue } from "../../../queue/webhooks.ts";
import { newId } from "../../ids.ts";
import { type WebhookEvent, webhookBody } from "./events.ts";

type Tx = Prisma.TransactionClient;

/** Deliveries written in a transaction: queue them with `WebhookOutbox.send` once it committed. */
export type PendingDeliveries = readonly string[];

export class WebhookOutbox {
  constructor(
    /** Absent in a process without queues: deliveries wait for one that has them. */
    private readonly queue: WebhookQueue | undefined,
  ) {}

  /** One delivery per endpoint of the organization subscribed to the event's type. */
  async record(tx: Tx, organizationId: string, event: WebhookEvent): Promise<PendingDeliveries> {
    const endpoints = await tx.webhookEndpoint.findMany({
      where: { organizationId, events: { has: event.type } },
      select: { id: true },
    });
    return this.write(tx, endpoints, event);
  }

  /** A delivery to one endpoint, whatever it subscribed to (the test event). */
  async recordFor(tx: Tx | Database, endpointId: string, event: WebhookEvent): Promise<PendingDeliveries> {
    return this.write(tx, [{ id: endpointId }], event);
  }

  async send(deliveries: PendingDeliveries): Promise<void> {
    if (!this.queue) return;
    for (const id of deliveries) await this.queue.enqueue(id);
  }

  private async write(
    tx: Tx | Database,
    endpoints: { id: string }[],
    event: WebhookEvent,
  ): Promise<PendingDeliveries> {
    if (endpoints.length === 0) return [];
    const now = new Date();
    const rows = endpoints.map((endpoint) => ({
      id: newId("msg", now.getTime()),
      endpointId: endpoint.id,
      eventType: event.type,
      payload: webhookBody(event, now),
      createdAt: now,
    }));
    await tx.webhookDelivery.createMany({ data: rows });
    return rows.map((row) => row.id);
  }
}
