// A user's webhook endpoints and their delivery log. The secret is shown when an endpoint is
// created and when it is rotated, never in a read; after a rotation the old secret keeps signing
// beside the new one for a day, so a receiver can switch without dropping events.
import { isIP } from "node:net";
import type { Database } from "../../../prisma/client.ts";
import type { WebhookDelivery, WebhookEndpoint } from "../../../prisma/generated/client.ts";
import { newId } from "../../ids.ts";
import { pageOf } from "../../schemas/common.ts";
import { DomainError, NotFoundError } from "../domain-errors.ts";
import { refusedAddress } from "./address-guard.ts";
import { TEST_EVENT_TYPE, type WebhookEventType } from "./events.ts";
import type { WebhookOutbox } from "./outbox.ts";
import { newWebhookSecret } from "./signing.ts";

export const PREVIOUS_SECRET_VALID_MS = 24 * 3600 * 1000;

export class WebhookUrlError extends DomainError<"webhook_url_refused"> {
  constructor(message: string) {
    super("webhook_url_refused", message, "url");
  }
}

export interface EndpointRequest {
  url: string;
  events: WebhookEventType[];
  description?: string;
}

export interface EndpointView {
  id: string;
  object: "webhook_endpoint";
  url: string;
  description: string;
  events: string[];
  created_at: string;
}

export interface DeliveryView {
  id: string;
  object: "webhook_delivery";
  endpoint: string;
  event_type: string;
  status: "pending" | "succeeded" | "failed";
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  last_attempt_at: string | null;
}

function endpointView(endpoint: WebhookEndpoint): EndpointView {
  return {
    id: endpoint.id,
    object: "webhook_endpoint",
    url: endpoint.url,
    description: endpoint.description,
    events: endpoint.events,
    created_at: endpoint.createdAt.toISOString(),
  };
}

function deliveryView(delivery: WebhookDelivery): DeliveryView {
  return {
    id: delivery.id,
    object: "webhook_delivery",
    endpoint: delivery.endpointId,
    event_type: delivery.eventType,
    status: delivery.status,
    attempts: delivery.attempts,
    last_status_code: delivery.lastStatusCode,
    last_error: delivery.lastError,
    created_at: delivery.createdAt.toISOString(),
    last_attempt_at: delivery.lastAttemptAt?.toISOString() ?? null,
  };
}

export class WebhookEndpoints {
  constructor(
    private readonly db: Database,
    private readonly outbox: WebhookOutbox,
    /** Production takes only https URLs whose host is not a private or loopback address. */
    private readonly production: boolean,
  ) {}

  async create(organizationId: string, request: EndpointRequest): Promise<EndpointView & { secret: string }> {
    this.checkUrl(request.url);
    const endpoint = await this.db.webhookEndpoint.create({
      data: {
        id: newId("whep"),
        organizationId,
        url: request.url,
        description: request.description ?? "",
        events: [...new Set(request.events)],
        secret: newWebhookSecret(),
      },
    });
    return { ...endpointView(endpoint), secret: endpoint.secret };
  }

  async list(organizationId: string, limit: number, after?: string) {
    const rows = await this.db.webhookEndpoint.findMany({
      where: { organizationId, ...(after ? { id: { lt: after } } : {}) },
      orderBy: { id: "desc" },
      take: limit + 1,
    });
    return pageOf(rows.map(endpointView), limit);
  }

  async get(organizationId: string, id: string): Promise<EndpointView> {
    return endpointView(await this.find(organizationId, id));
  }

  /** Deletes the endpoint and its delivery log; queued deliveries to it are dropped unsent. */
  async delete(organizationId: string, id: string) {
    const endpoint = await this.find(organizationId, id);
    await this.db.webhookEndpoint.delete({ where: { id: endpoint.id } });
    return { id: endpoint.id, object: "webhook_endpoint" as const, deleted: true as const };
  }

  async rotateSecret(organizationId: string, id: string): Promise<EndpointView & { secret: string }> {
    const endpoint = await this.find(organizationId, id);
    const rotated = await this.db.webhookEndpoint.update({
      where: { id: endpoint.id },
      data: {
        secret: newWebhookSecret(),
        previousSecret: endpoint.secret,
        previousSecretExpiresAt: new Date(Date.now() + PREVIOUS_SECRET_VALID_MS),
      },
    });
    return { ...endpointView(rotated), secret: rotated.secret };
  }

  /** Queues a `webhook.test` event to this endpoint; its delivery shows in the log like any other. */
  async sendTest(organizationId: string, id: string): Promise<DeliveryView> {
    const endpoint = await this.find(organizationId, id);
    const [deliveryId] = await this.outbox.recordFor(this.db, endpoint.id, {
      type: TEST_EVENT_TYPE,
      data: { endpoint: endpoint.id, message: "A test event sent from the Veritrain API" },
    });
    await this.outbox.send([deliveryId!]);
    return deliveryView(await this.db.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId! } }));
  }

  /** The endpoint's deliveries, newest first. */
  async deliveries(organizationId: string, id: string, limit: number, after?: string) {
    const endpoint = await this.find(organizationId, id);
    const rows = await this.db.webhookDelivery.findMany({
      where: { endpointId: endpoint.id, ...(after ? { id: { lt: after } } : {}) },
      orderBy: { id: "desc" },
      take: limit + 1,
    });
    return pageOf(rows.map(deliveryView), limit);
  }

  private async find(organizationId: string, id: string): Promise<WebhookEndpoint> {
    const endpoint = await this.db.webhookEndpoint.findFirst({ where: { id, organizationId } });
    if (!endpoint) throw new NotFoundError("webhook endpoint", id, "id");
    return endpoint;
  }

  /** What can be told from the URL alone; each delivery checks what the host resolves to. */
  private checkUrl(raw: string): void {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new WebhookUrlError(`"${raw.slice(0, 200)}" is not an absolute URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new WebhookUrlError(`the URL must use https, got "${url.protocol}"`);
    }
    if (url.username || url.password) {
      throw new WebhookUrlError("the URL must not carry credentials; verify the signature instead");
    }
    if (!this.production) return;
    if (url.protocol !== "https:") throw new WebhookUrlError("the URL must use https");
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const refused = isIP(host) === 0 ? null : refusedAddress(host);
    if (refused) throw new WebhookUrlError(`the URL's host ${refused}`);
    if (host === "localhost" || host.endsWith(".localhost")) {
      throw new WebhookUrlError("the URL's host is this machine");
    }
  }
}
