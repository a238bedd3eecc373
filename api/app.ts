// Builds the Fastify application from its dependencies; starting servers and connecting to
// services is the caller's job (api/server.ts), so tests can build the same app around theirs.
import { randomUUID } from "node:crypto";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify from "fastify";
import type { HealthProbes } from "./health.ts";
import auth from "./plugins/auth.ts";
import errors from "./plugins/errors.ts";
import idempotency from "./plugins/idempotency.ts";
import rateLimits, { type RateLimitsOptions } from "./plugins/rate-limits.ts";
import swagger from "./plugins/swagger.ts";
import routes from "./routes/index.ts";
import type { Services } from "./services/index.ts";

export interface AppDeps {
  probes: HealthProbes;
  /** The business logic the routes call, handed to each route plugin as its options. */
  services: Services;
  /** Request budgets and the Redis that counts them. */
  rateLimits: RateLimitsOptions;
}

export interface BuildAppOptions {
  deps: AppDeps;
  /** A pino level ("info", "debug", ...), or false for no request logs (tests). */
  logLevel?: string | false;
  /** Take the client address from X-Forwarded-For (TRUST_PROXY). */
  trustProxy?: boolean;
}

// A slow client cannot hold a connection open without end: headers within 30 s, the whole request
// (an upload of a large dataset included) within 15 minutes, and 75 s of silence closes the
// socket, which a long poll (at most 60 s) and an event stream (a comment every 15 s) stay under.
const HEADERS_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 15 * 60_000;
const CONNECTION_IDLE_MS = 75_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** Fastify as the API configures it, with nothing registered yet. */
export function createFastify(logLevel: string | false, trustProxy = false) {
  const app = Fastify({
    logger: logLevel ? { level: logLevel } : false,
    trustProxy,
    connectionTimeout: CONNECTION_IDLE_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    requestIdHeader: "x-request-id",
    genReqId: () => `req_${randomUUID().replaceAll("-", "")}`,
    // Close idle keep-alive sockets at shutdown, let in-flight requests finish.
    forceCloseConnections: "idle",
    return503OnClosing: true,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: "array", useDefaults: true, allErrors: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.server.headersTimeout = HEADERS_TIMEOUT_MS;
  return app;
}

/**
 * Everything the API declares: its error shape, its document, authentication, idempotency and
 * the routes. Registering calls no service, so the OpenAPI document is built with this too.
 */
export async function registerApi(
  app: ReturnType<typeof createFastify>,
  { services, probes, rateLimits: limits }: AppDeps,
) {
  await app.register(errors);
  await app.register(swagger);
  await app.register(auth, { apiKeys: services.apiKeys, accounts: services.accounts });
  await app.register(rateLimits, limits);
  await app.register(idempotency, { records: services.idempotency });
  await app.register(routes, { services, probes });
}

export async function buildApp({ deps, logLevel = false, trustProxy = false }: BuildAppOptions) {
  const app = createFastify(logLevel, trustProxy);
  app.addHook("onSend", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  await registerApi(app, deps);
  // Revocations and re-registrations in other API processes evict cached rows here while this app serves; the
  // document's app registers the same routes but never serves, so this is not in registerApi.
  const stopListening: Array<() => Promise<void>> = [];
  const listeners = [
    { what: "API key revocations", listen: () => deps.services.apiKeys.listenForRevocations() },
    ...(deps.services.nodeGateway
      ? [
          {
            what: "node role changes",
            listen: deps.services.nodeGateway.registry.listenForChanges.bind(
              deps.services.nodeGateway.registry,
            ),
          },
        ]
      : []),
  ];
  app.addHook("onReady", async () => {
    for (const { what, listen } of listeners) {
      try {
        stopListening.push(await listen());
      } catch (error) {
        // The API still serves without Redis; the cache TTL alone then bounds how stale it gets.
        app.log.warn({ err: error }, `not subscribed to ${what}`);
      }
    }
  });
  app.addHook("onClose", async () => {
    await Promise.all(stopListening.map((stop) => stop()));
  });
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
