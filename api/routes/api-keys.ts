import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  ApiKeyList,
  ApiKeyParams,
  ApiKeyWithSecret,
  CreateApiKeyBody,
  RevokedApiKey,
} from "../schemas/accounts.ts";
import { answer, errorResponses, ListQuery, readAccess, writeAccess } from "../schemas/common.ts";
import type { ApiKeys } from "../services/api-keys.ts";

const apiKeyRoutes: FastifyPluginAsyncTypebox<{ apiKeys: ApiKeys }> = async (app, { apiKeys }) => {
  app.addHook("onRequest", app.authenticate);

  app.get(
    "/v1/api-keys",
    {
      schema: {
        operationId: "listApiKeys",
        tags: ["api-keys"],
        summary: "List the organization's active API keys, newest first (secrets are never shown again)",
        security: readAccess,
        querystring: ListQuery,
        response: { 200: answer("A page of API keys", ApiKeyList), ...errorResponses(400, 401) },
      },
    },
    async (request) => apiKeys.list(request.auth.organizationId, request.query.limit, request.query.after),
  );

  app.post(
    "/v1/api-keys",
    {
      schema: {
        operationId: "createApiKey",
        tags: ["api-keys"],
        summary: "Create an API key; its secret is in this response only",
        description:
          "Takes no Idempotency-Key: replaying the response would mean storing the secret. A lost " +
          "response leaves an unused key, which the list shows and DELETE revokes.",
        security: writeAccess,
        body: CreateApiKeyBody,
        response: {
          201: answer("The new key, with its secret", ApiKeyWithSecret),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const key = await apiKeys.create(request.auth.organizationId, request.body.name);
      return reply.status(201).send(key);
    },
  );

  app.delete(
    "/v1/api-keys/:id",
    {
      schema: {
        operationId: "revokeApiKey",
        tags: ["api-keys"],
        summary: "Revoke an API key; every API process stops accepting it within seconds",
        security: writeAccess,
        params: ApiKeyParams,
        response: { 200: answer("The revoked key", RevokedApiKey), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => apiKeys.revoke(request.auth.organizationId, request.params.id),
  );
};

export default apiKeyRoutes;
