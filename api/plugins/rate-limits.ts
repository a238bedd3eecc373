// Request budgets per route family (config/rate-limits.ts), counted in Redis so every API instance
// draws on the same budget. Each family is keyed by who spends it: the organization of an
// authenticated caller, the node key of a gateway request (after its signature is checked), the
// client address otherwise. A login is charged twice, to the client address and to the account
// it names, so spraying one password over many accounts and guessing one account's password from
// many addresses both run out. Answers carry RateLimit-Limit/-Remaining/-Reset; a 429 also
// Retry-After, with the API's error body.
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import fp from "fastify-plugin";
import type { Redis } from "ioredis";
import type { RateLimit, RateLimitFamily } from "../../config/rate-limits.ts";
import { ApiError } from "../errors.ts";
import { errorResponses } from "../schemas/common.ts";

declare module "fastify" {
  interface FastifyInstance {
    /** Charges a login to the account its body names; a preHandler for POST /v1/auth/login. */
    limitLoginAccount(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  }
}

export interface RateLimitsOptions {
  /** Where the counters live; its key prefix (if any) isolates them. */
  redis: Redis;
  limits: Record<RateLimitFamily, RateLimit>;
}

// Stripe signs its webhook and retries it until answered: refusing one only delays a payment.
// Health is what load balancers poll, and must answer while Redis is down.
const EXEMPT = new Set(["/v1/billing/webhook", "/v1/health"]);

const BY_ROUTE: Record<string, RateLimitFamily> = {
  "POST /v1/auth/login": "login_address",
  "POST /v1/auth/signup": "signup",
  "POST /v1/files": "uploads",
  "POST /v1/training-jobs/quote": "quotes",
  "POST /v1/training-jobs": "job_creation",
  // A sweep is many jobs, quoted together and created together: one request of each budget.
  "POST /v1/training-jobs/sweeps/quote": "quotes",
  "POST /v1/training-jobs/sweeps": "job_creation",
};

function familyOf(request: FastifyRequest): RateLimitFamily {
  const url = request.routeOptions.url ?? "";
  const family = BY_ROUTE[`${request.method} ${url}`];
  if (family) return family;
  if (url.startsWith("/v1/nodes/")) return "node_gateway";
  if (!request.auth) return "public";
  return request.method === "GET" || request.method === "HEAD" ? "reads" : "writes";
}

function subjectOf(family: RateLimitFamily, request: FastifyRequest): string {
  if (family === "node_gateway" && request.nodeAddress) return request.nodeAddress;
  if (request.auth && family !== "login_address" && family !== "signup") return request.auth.organizationId;
  return request.ip;
}

const familyOfKey = (key: string) => key.slice(0, key.indexOf("|")) as RateLimitFamily;

function accountOf(request: FastifyRequest): string {
  const email = (request.body as { email?: unknown } | undefined)?.email;
  return typeof email === "string" ? email.trim().toLowerCase() : "";
}

export default fp(
  async (app: FastifyInstance, { redis, limits }: RateLimitsOptions) => {
    await app.register(rateLimit, {
      global: false,
      redis,
      nameSpace: "rate-limit:",
      enableDraftSpec: true,
      hook: "preHandler",
      // While Redis is unreachable requests go uncounted rather than refused: an outage of the
      // counters must not become an outage of the API.
      skipOnError: true,
      errorResponseBuilder: (request, context) => {
        const family = familyOf(request);
        return new ApiError(
          429,
          "rate_limit_error",
          "rate_limited",
          `Too many requests of this kind (${family.replaceAll("_", " ")}): at most ${context.max} per ${limits[family].windowMs / 1000} s; retry in ${context.after}`,
        );
      },
    });
    const limiter = app.rateLimit({
      keyGenerator: (request) => {
        const family = familyOf(request);
        return `${family}|${subjectOf(family, request)}`;
      },
      max: (_request, key) => limits[familyOfKey(key)].max,
      timeWindow: (_request, key) => limits[familyOfKey(key)].windowMs,
    });
    const accountLimit = limits.login_account;
    const account = app.createRateLimit({
      keyGenerator: (request) => `login_account|${accountOf(request)}`,
      max: accountLimit.max,
      timeWindow: accountLimit.windowMs,
    });
    app.decorate("limitLoginAccount", async (request: FastifyRequest, reply: FastifyReply) => {
      const result = await account(request);
      if (result.isAllowed || !result.isExceeded) return;
      reply.header("retry-after", result.ttlInSeconds);
      throw new ApiError(
        429,
        "rate_limit_error",
        "rate_limited",
        `Too many login attempts for this account; retry in ${result.ttlInSeconds} s`,
      );
    });

    app.addHook("onRoute", (route: RouteOptions) => {
      if (EXEMPT.has(route.url)) return;
      route.preHandler = [limiter, ...asArray(route.preHandler)];
      if (route.schema?.response) {
        route.schema = {
          ...route.schema,
          response: { ...(route.schema.response as object), ...errorResponses(429) },
        };
      }
    });
  },
  { name: "rate-limits", dependencies: ["auth"] },
);

function asArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
