// One route file per resource; each is a Fastify plugin registered here.
import type { FastifyPluginAsync } from "fastify";
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

const routes: FastifyPluginAsync = async (app) => {
  await app.register(healthRoutes);
  await app.register(authRoutes);
  await app.register(apiKeyRoutes);
  await app.register(billingRoutes);
  await app.register(localCheckoutRoutes);
  await app.register(filesRoutes);
  await app.register(trainingJobRoutes);
  await app.register(receiptKeyRoutes);
  await app.register(nodeRoutes);
  await app.register(portalRoutes);
};

export default routes;
