// One route file per resource; each is a Fastify plugin registered here with the services its
// handlers call, as its options.
import type { FastifyPluginAsync } from "fastify";
import type { HealthProbes } from "../health.ts";
import type { Services } from "../services/index.ts";
import apiKeyRoutes from "./api-keys.ts";
import authRoutes from "./auth.ts";
import billingRoutes from "./billing.ts";
import filesRoutes from "./files.ts";
import healthRoutes from "./health.ts";
import localCheckoutRoutes from "./local-checkout.ts";
import nodeRoutes from "./nodes.ts";
import portalRoutes from "./portal.ts";
import receiptKeyRoutes from "./receipt-keys.ts";
import trainingJobRoutes from "./training-jobs.ts";
import trainingOperatorRoutes from "./training-operators.ts";
import trainingSweepRoutes from "./training-sweeps.ts";
import webhookEndpointRoutes from "./webhook-endpoints.ts";

export interface RoutesOptions {
  services: Services;
  probes: HealthProbes;
}

const routes: FastifyPluginAsync<RoutesOptions> = async (app, { services, probes }) => {
  await app.register(healthRoutes, { probes });
  await app.register(authRoutes, { accounts: services.accounts });
  await app.register(apiKeyRoutes, { apiKeys: services.apiKeys });
  await app.register(billingRoutes, { ledger: services.ledger, billing: services.billing });
  // A development stack without Stripe keys serves its own payment page; production never does.
  if (services.localCheckout) {
    await app.register(localCheckoutRoutes, { localCheckout: services.localCheckout });
  }
  await app.register(filesRoutes, { files: services.files });
  await app.register(trainingJobRoutes, {
    jobs: services.jobs,
    events: services.jobEvents,
    streams: services.streams,
    dispatcher: services.dispatcher,
  });
  await app.register(trainingSweepRoutes, {
    sweeps: services.sweeps,
    streams: services.streams,
    dispatcher: services.dispatcher,
  });
  await app.register(trainingOperatorRoutes);
  await app.register(webhookEndpointRoutes, { webhooks: services.webhookEndpoints });
  await app.register(receiptKeyRoutes, { receipts: services.receipts });
  // Nodes are served where the task queues are, which is where the gateway is built.
  if (services.nodeGateway) await app.register(nodeRoutes, { gateway: services.nodeGateway });
  await app.register(portalRoutes);
};

export default routes;
