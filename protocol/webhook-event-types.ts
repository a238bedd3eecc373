// The events a webhook endpoint can subscribe to: one list, which the API validates endpoints
// against and publishes in its OpenAPI enum, and the SDK and the CLI offer, so they cannot disagree.

export const WEBHOOK_EVENT_TYPES = [
  "training_job.succeeded",
  "training_job.failed",
  "training_job.cancelled",
  "training_job.verification_completed",
  "billing.credits_added",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
