import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Balance, BalanceTransactionList } from "../schemas/billing.ts";
import { errorResponses, ListQuery } from "../schemas/common.ts";

const billingRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/v1/billing/balance",
    {
      onRequest: app.authenticate,
      schema: {
        tags: ["billing"],
        summary: "The organization's credits: available to spend and reserved for running jobs",
        security: [{ apiKey: [] }],
        response: { 200: Balance, ...errorResponses(401) },
      },
    },
    async (request) => app.deps.services!.ledger.balance(request.auth.organizationId),
  );

  app.get(
    "/v1/billing/transactions",
    {
      onRequest: app.authenticate,
      schema: {
        tags: ["billing"],
        summary: "Every movement of the organization's credits, newest first",
        security: [{ apiKey: [] }],
        querystring: ListQuery,
        response: { 200: BalanceTransactionList, ...errorResponses(400, 401) },
      },
    },
    async (request) =>
      app.deps.services!.ledger.transactions(
        request.auth.organizationId,
        request.query.limit,
        request.query.after,
      ),
  );
};

export default billingRoutes;
