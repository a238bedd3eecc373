// The events a webhook endpoint can subscribe to (WEBHOOK_EVENT_TYPES of the API), each with
// what it means to the user. Free of the DOM, so the server's tests check it against the API's.

/** @type {ReadonlyArray<{ type: string, label: string }>} */
export const WEBHOOK_EVENTS = [
  { type: "training_job.succeeded", label: "A training job succeeded" },
  { type: "training_job.failed", label: "A training job failed" },
  { type: "training_job.cancelled", label: "A training job was cancelled" },
  {
    type: "training_job.verification_completed",
    label: "A job's verification completed (its receipt is ready)",
  },
  { type: "billing.credits_added", label: "Credits were added to the balance" },
];
