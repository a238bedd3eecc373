// Builds the Fastify application from its dependencies; starting servers and connecting to
// services is the caller's job (api/server.ts), so tests can build the same app around theirs.
import { randomUUID } from "node:crypto";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify from "fastify";
import type { HealthProbe } from "./health.ts";
import auth from "./plugins/auth.ts";
import errors from "./plugins/errors.ts";
import idempotency from "./plugins/idempotency.ts";
import swagger from "./plugins/swagger.ts";
import routes from "./routes/index.ts";
import type { Services } from "./services/index.ts";

export interface AppDeps {
  probes: { database: HealthProbe; redis: HealthProbe; chain: HealthProbe };
  /** The business logic the routes call; absent only when generating the OpenAPI document. */
  services?: Services;
}

declare module "fastify" {
  interface FastifyInstance {
    deps: AppDeps;
  }
}

export interface BuildAppOptions {
  deps: AppDeps;
  /** A pino level ("info", "debug", ...), or false for no request logs (tests). */
  logLevel?: string | false;
}

export async function buildApp({ deps, logLevel = false }: BuildAppOptions) {
  const app = Fastify({
    logger: logLevel ? { level: logLevel } : false,
    requestIdHeader: "x-request-id",
    genReqId: () => `req_${randomUUID().replaceAll("-", "")}`,
    // Close idle keep-alive sockets at shutdown, let in-flight requests finish.
    forceCloseConnections: "idle",
    return503OnClosing: true,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: "array", useDefaults: true, allErrors: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate("deps", deps);
  app.addHook("onSend", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  await app.register(errors);
  await app.register(swagger);
  await app.register(auth);
  await app.register(idempotency);
  await app.register(routes);
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
