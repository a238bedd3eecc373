import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  Balance,
  BalanceTransactionList,
  CheckoutSession,
  CheckoutSessionBody,
  PaymentList,
  WebhookAck,
} from "../schemas/billing.ts";
import { answer, errorResponses, ListQuery, readAccess, writeAccess } from "../schemas/common.ts";
import type { Billing } from "../services/billing.ts";
import type { Ledger } from "../services/ledger.ts";

export interface BillingRoutesOptions {
  ledger: Ledger;
  billing: Billing;
}

const billingRoutes: FastifyPluginAsyncTypebox<BillingRoutesOptions> = async (app, { ledger, billing }) => {
  app.get(
    "/v1/billing/balance",
    {
      onRequest: app.authenticate,
      schema: {
        operationId: "getBalance",
        tags: ["billing"],
        summary: "The organization's credits: available to spend and reserved for running jobs",
        security: readAccess,
        response: { 200: answer("The organization's balance", Balance), ...errorResponses(401) },
      },
    },
    async (request) => ledger.balance(request.auth.organizationId),
  );

  app.get(
    "/v1/billing/transactions",
    {
      onRequest: app.authenticate,
      schema: {
        operationId: "listBalanceTransactions",
        tags: ["billing"],
        summary: "Every movement of the organization's credits, newest first",
        security: readAccess,
        querystring: ListQuery,
        response: {
          200: answer("A page of balance transactions", BalanceTransactionList),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) =>
      ledger.transactions(request.auth.organizationId, request.query.limit, request.query.after),
  );

  app.get(
    "/v1/billing/payments",
    {
      onRequest: app.authenticate,
      schema: {
        operationId: "listPayments",
        tags: ["billing"],
        summary: "The organization's card payments, newest first: paid, still processing, or failed",
        security: readAccess,
        querystring: ListQuery,
        response: { 200: answer("A page of card payments", PaymentList), ...errorResponses(400, 401) },
      },
    },
    async (request) =>
      billing.payments(request.auth.organizationId, request.query.limit, request.query.after),
  );

  app.post(
    "/v1/billing/checkout-sessions",
    {
      onRequest: app.authenticate,
      config: { idempotency: true },
      schema: {
        operationId: "createCheckoutSession",
        tags: ["billing"],
        summary:
          "Start a card payment for prepaid credits: returns the Stripe Checkout URL to send the user to",
        description:
          "Without STRIPE_SECRET_KEY, outside production (NODE_ENV=production), the URL is a test payment page " +
          "the API serves itself: no card is charged, and paying credits the balance through the same webhook " +
          "handling as Stripe's events. In production without Stripe keys, this answers 503.",
        security: writeAccess,
        body: CheckoutSessionBody,
        response: {
          201: answer("The Checkout Session to send the user to", CheckoutSession),
          ...errorResponses(400, 401, 403, 409, 503),
        },
      },
    },
    async (request, reply) => {
      const { amount_cents, success_url, cancel_url } = request.body;
      const session = await billing.createCheckoutSession(
        request.auth.organizationId,
        {
          amountCents: amount_cents,
          successUrl: success_url,
          cancelUrl: cancel_url,
          origin: `${request.protocol}://${request.host}`,
        },
        request.idempotency?.key,
      );
      return reply.status(201).send(session);
    },
  );

  // Stripe signs the exact bytes it sends, so this route alone keeps the body raw.
  await app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    raw.post(
      "/v1/billing/webhook",
      {
        schema: {
          operationId: "receiveStripeWebhook",
          security: [],
          tags: ["billing"],
          summary:
            "Stripe webhook endpoint: verifies Stripe-Signature and credits paid Checkout Sessions once",
          response: { 200: answer("The event was received", WebhookAck), ...errorResponses(400, 503) },
        },
      },
      async (request) => {
        const signature = request.headers["stripe-signature"];
        const outcome = await billing.handleWebhook(
          request.body as Buffer,
          typeof signature === "string" ? signature : undefined,
        );
        return { received: true as const, outcome };
      },
    );
  });
};

export default billingRoutes;
