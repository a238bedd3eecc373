// The events an endpoint can subscribe to, and the body every delivery sends: Standard Webhooks'
// `{"type", "timestamp", "data"}`, where `data` is the object the event is about, as the API
// answers it elsewhere (a training job is the same object GET /v1/training-jobs/{id} returns).

export const WEBHOOK_EVENT_TYPES = [
  "training_job.succeeded",
  "training_job.failed",
  "training_job.cancelled",
  "training_job.verification_completed",
  "billing.credits_added",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What "send a test event" sends: to any endpoint, whatever it subscribed to. */
export const TEST_EVENT_TYPE = "webhook.test";

export interface WebhookEvent {
  type: WebhookEventType | typeof TEST_EVENT_TYPE;
  data: Record<string, unknown>;
}

export function webhookBody(event: WebhookEvent, at: Date): string {
  return JSON.stringify({ type: event.type, timestamp: at.toISOString(), data: event.data });
}
