import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { answer, errorResponses, ListQuery, readAccess, writeAccess } from "../schemas/common.ts";
import {
  CreateWebhookEndpointBody,
  DeletedWebhookEndpoint,
  WebhookDelivery,
  WebhookDeliveryList,
  WebhookEndpoint,
  WebhookEndpointList,
  WebhookEndpointParams,
  WebhookEndpointWithSecret,
} from "../schemas/webhooks.ts";
import type { WebhookEndpoints } from "../services/webhooks/endpoints.ts";

const SIGNING =
  'Each delivery is a POST of {"type", "timestamp", "data"} signed per Standard Webhooks: headers ' +
  "webhook-id, webhook-timestamp and webhook-signature (v1,<base64 HMAC-SHA256 of id.timestamp.body>, " +
  "keyed with the base64 after whsec_). Verify it with any Standard Webhooks library.";

const webhookEndpointRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhookEndpoints }> = async (
  app,
  { webhooks },
) => {
  app.addHook("onRequest", app.authenticate);

  app.post(
    "/v1/webhook-endpoints",
    {
      schema: {
        operationId: "createWebhookEndpoint",
        security: writeAccess,
        tags: ["webhooks"],
        summary: "Create a webhook endpoint; its signing secret is in this response",
        description:
          `${SIGNING} Takes no Idempotency-Key: replaying the response would mean storing the secret; ` +
          "a lost response leaves an endpoint the list shows and DELETE removes.",
        body: CreateWebhookEndpointBody,
        response: {
          201: answer("The endpoint, with its secret", WebhookEndpointWithSecret),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await webhooks.create(request.auth.organizationId, request.body)),
  );

  app.get(
    "/v1/webhook-endpoints",
    {
      schema: {
        operationId: "listWebhookEndpoints",
        security: readAccess,
        tags: ["webhooks"],
        summary: "List webhook endpoints, newest first",
        querystring: ListQuery,
        response: {
          200: answer("A page of endpoints", WebhookEndpointList),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => webhooks.list(request.auth.organizationId, request.query.limit, request.query.after),
  );

  app.get(
    "/v1/webhook-endpoints/:id",
    {
      schema: {
        operationId: "getWebhookEndpoint",
        security: readAccess,
        tags: ["webhooks"],
        summary: "Retrieve a webhook endpoint",
        params: WebhookEndpointParams,
        response: { 200: answer("The endpoint", WebhookEndpoint), ...errorResponses(401, 404) },
      },
    },
    async (request) => webhooks.get(request.auth.organizationId, request.params.id),
  );

  app.delete(
    "/v1/webhook-endpoints/:id",
    {
      schema: {
        operationId: "deleteWebhookEndpoint",
        security: writeAccess,
        tags: ["webhooks"],
        summary: "Delete a webhook endpoint and its delivery log; queued deliveries are dropped",
        params: WebhookEndpointParams,
        response: {
          200: answer("The endpoint is gone", DeletedWebhookEndpoint),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => webhooks.delete(request.auth.organizationId, request.params.id),
  );

  app.post(
    "/v1/webhook-endpoints/:id/rotate-secret",
    {
      schema: {
        operationId: "rotateWebhookEndpointSecret",
        security: writeAccess,
        tags: ["webhooks"],
        summary: "Replace the signing secret; the old one keeps signing beside it for 24 hours",
        description:
          "During those 24 hours webhook-signature carries two signatures, one per secret, so a receiver " +
          "verifying with either accepts the delivery.",
        params: WebhookEndpointParams,
        response: {
          200: answer("The endpoint, with its new secret", WebhookEndpointWithSecret),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => webhooks.rotateSecret(request.auth.organizationId, request.params.id),
  );

  app.post(
    "/v1/webhook-endpoints/:id/test",
    {
      schema: {
        operationId: "sendWebhookEndpointTestEvent",
        security: writeAccess,
        tags: ["webhooks"],
        summary: "Send a webhook.test event to this endpoint",
        description: "The delivery is queued at once and shows in the endpoint's delivery log.",
        params: WebhookEndpointParams,
        response: {
          202: answer("The queued delivery", WebhookDelivery),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request, reply) =>
      reply.status(202).send(await webhooks.sendTest(request.auth.organizationId, request.params.id)),
  );

  app.get(
    "/v1/webhook-endpoints/:id/deliveries",
    {
      schema: {
        operationId: "listWebhookDeliveries",
        security: readAccess,
        tags: ["webhooks"],
        summary: "The endpoint's delivery log, newest first: status, attempts, the receiver's last answer",
        params: WebhookEndpointParams,
        querystring: ListQuery,
        response: {
          200: answer("A page of deliveries", WebhookDeliveryList),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) =>
      webhooks.deliveries(
        request.auth.organizationId,
        request.params.id,
        request.query.limit,
        request.query.after,
      ),
  );
};

export default webhookEndpointRoutes;
