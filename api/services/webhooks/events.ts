// The events an endpoint can subscribe to (listed in protocol/webhook-event-types.ts), and the
// body every delivery sends: Standard Webhooks' `{"type", "timestamp", "data"}`, where `data` is
// the object the event is about, as the API answers it elsewhere (a training job is the same object GET /v1/training-jobs/{id} returns).

import type { WebhookEventType } from "../../../protocol/webhook-event-types.ts";

export { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../../../protocol/webhook-event-types.ts";

/** What "send a test event" sends: to any endpoint, whatever it subscribed to. */
export const TEST_EVENT_TYPE = "webhook.test";

export interface WebhookEvent {
  type: WebhookEventType | typeof TEST_EVENT_TYPE;
  data: Record<string, unknown>;
}

export function webhookBody(event: WebhookEvent, at: Date): string {
  return JSON.stringify({ type: event.type, timestamp: at.toISOString(), data: event.data });
}
