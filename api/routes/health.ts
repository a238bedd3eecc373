import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { type HealthProbes, runProbe } from "../health.ts";
import { answer } from "../schemas/common.ts";

const Component = Type.Object({
  status: Type.Union([Type.Literal("up"), Type.Literal("down")]),
  latency_ms: Type.Integer(),
  detail: Type.Optional(Type.String()),
});

const Health = Type.Object(
  {
    status: Type.Union([Type.Literal("ok"), Type.Literal("degraded")]),
    components: Type.Object({ database: Component, redis: Component, chain: Component }),
  },
  { title: "Health" },
);

const healthRoutes: FastifyPluginAsyncTypebox<{ probes: HealthProbes }> = async (app, { probes }) => {
  app.get(
    "/v1/health",
    {
      schema: {
        operationId: "getHealth",
        security: [],
        tags: ["health"],
        summary: "Status of the API and the services it depends on",
        response: {
          200: answer("Every component is up", Health),
          503: answer("A component is down: its probe says why", Health),
        },
      },
    },
    async (request, reply) => {
      const probe = (component: keyof HealthProbes) =>
        runProbe(probes[component], (error) =>
          request.log.warn({ err: error, component }, "health probe failed"),
        );
      const [database, redis, chain] = await Promise.all([probe("database"), probe("redis"), probe("chain")]);
      const healthy = [database, redis, chain].every((c) => c.status === "up");
      return reply
        .status(healthy ? 200 : 503)
        .send({ status: healthy ? "ok" : "degraded", components: { database, redis, chain } });
    },
  );
};

export default healthRoutes;
