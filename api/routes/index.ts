// One route file per resource; each is a Fastify plugin registered here.
import type { FastifyPluginAsync } from "fastify";
import healthRoutes from "./health.ts";

const routes: FastifyPluginAsync = async (app) => {
  await app.register(healthRoutes);
};

export default routes;
