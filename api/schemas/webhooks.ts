import { Type } from "@sinclair/typebox";
import { WEBHOOK_EVENT_TYPES } from "../services/webhooks/events.ts";
import { listOf, StringEnum } from "./common.ts";

const EXAMPLE_ENDPOINT = {
  id: "whep_01jefm0c9x7t2b6q8r4k3n5v1w",
  object: "webhook_endpoint",
  url: "https://example.com/veritrain/webhooks",
  description: "Production job notifications",
  events: ["training_job.succeeded", "training_job.failed"],
  created_at: "2026-12-04T16:00:00.000Z",
} as const;
const EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

export const WebhookEventType = StringEnum(WEBHOOK_EVENT_TYPES, {
  description: "An event an endpoint can subscribe to",
});

export const CreateWebhookEndpointBody = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description:
        "Where events are POSTed. In production: https, and a host that resolves only to public addresses; redirects are not followed",
    }),
    events: Type.Array(WebhookEventType, { minItems: 1, maxItems: WEBHOOK_EVENT_TYPES.length }),
    description: Type.Optional(Type.String({ maxLength: 200, description: "What the endpoint is for" })),
  },
  {
    additionalProperties: false,
    title: "CreateWebhookEndpointRequest",
    examples: [
      {
        url: EXAMPLE_ENDPOINT.url,
        events: EXAMPLE_ENDPOINT.events,
        description: EXAMPLE_ENDPOINT.description,
      },
    ],
  },
);

export const WebhookEndpoint = Type.Object(
  {
    id: Type.String({ description: "whep_..." }),
    object: Type.Literal("webhook_endpoint"),
    url: Type.String(),
    description: Type.String(),
    events: Type.Array(Type.String()),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "WebhookEndpoint", examples: [EXAMPLE_ENDPOINT] },
);

export const WebhookEndpointWithSecret = Type.Object(
  {
    ...WebhookEndpoint.properties,
    secret: Type.String({
      description:
        "whsec_...: verify each delivery's webhook-signature with it (Standard Webhooks); shown only in this response",
    }),
  },
  {
    title: "WebhookEndpointWithSecret",
    examples: [{ ...EXAMPLE_ENDPOINT, secret: EXAMPLE_SECRET }],
  },
);

export const WebhookEndpointList = listOf(WebhookEndpoint, "WebhookEndpointList", [
  { data: [EXAMPLE_ENDPOINT], has_more: false },
]);

export const DeletedWebhookEndpoint = Type.Object(
  { id: Type.String(), object: Type.Literal("webhook_endpoint"), deleted: Type.Literal(true) },
  {
    title: "DeletedWebhookEndpoint",
    examples: [{ id: EXAMPLE_ENDPOINT.id, object: "webhook_endpoint", deleted: true }],
  },
);

const EXAMPLE_DELIVERY = {
  id: "msg_01jefm1a2b3c4d5e6f7g8h9j0k",
  object: "webhook_delivery",
  endpoint: EXAMPLE_ENDPOINT.id,
  event_type: "training_job.succeeded",
  status: "succeeded",
  attempts: 1,
  last_status_code: 200,
  last_error: null,
  created_at: "2026-12-04T16:05:00.000Z",
  last_attempt_at: "2026-12-04T16:05:00.120Z",
} as const;

export const WebhookDelivery = Type.Object(
  {
    id: Type.String({ description: "msg_...: the webhook-id header of every attempt" }),
    object: Type.Literal("webhook_delivery"),
    endpoint: Type.String(),
    event_type: Type.String(),
    status: StringEnum(["pending", "succeeded", "failed"] as const, {
      description: "pending while attempts remain; failed after the last retry, about a day after the first",
    }),
    attempts: Type.Integer(),
    last_status_code: Type.Union([Type.Integer(), Type.Null()], {
      description: "The receiver's last answer",
    }),
    last_error: Type.Union([Type.String(), Type.Null()], { description: "Why the last attempt failed" }),
    created_at: Type.String({ format: "date-time" }),
    last_attempt_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  },
  { title: "WebhookDelivery", examples: [EXAMPLE_DELIVERY] },
);

export const WebhookDeliveryList = listOf(WebhookDelivery, "WebhookDeliveryList", [
  { data: [EXAMPLE_DELIVERY], has_more: false },
]);

export const WebhookEndpointParams = Type.Object({
  id: Type.String({
    maxLength: 64,
    description: "A webhook endpoint id, whep_...",
    examples: [EXAMPLE_ENDPOINT.id],
  }),
});
