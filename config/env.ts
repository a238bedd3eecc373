// Twelve-factor configuration: everything comes from the environment, validated once at start.
import { resolve } from "node:path";
import { isWellKnownDevSeed } from "./dev-keys.ts";
import { ConfigError } from "./errors.ts";
import {
  DEFAULT_RATE_LIMITS,
  RATE_LIMIT_FAMILIES,
  type RateLimit,
  type RateLimitFamily,
} from "./rate-limits.ts";

export interface Config {
  /** NODE_ENV=production: nothing embedded, no development keys, no local stand-ins. */
  production: boolean;
  port: number;
  host: string;
  dataDir: string;
  /** Unset: an embedded Postgres is started. */
  databaseUrl: string | undefined;
  /** Unset: a redis-server is spawned. */
  redisUrl: string | undefined;
  /** Unset: the embedded dev chain is started. */
  chainWsUrl: string | undefined;
  stripeSecretKey: string | undefined;
  stripeWebhookSecret: string | undefined;
  stripeApiBase: string | undefined;
  /** US dollars per whole VT token, as a decimal string so no precision is lost. */
  tokenUsdRate: string;
  operatorSeed: string;
  /** PEM (PKCS#8) of the Ed25519 key that signs receipts; unset: one kept in the data directory. */
  platformSigningKey: string | undefined;
  logLevel: string;
  /** STORAGE_QUOTA_BYTES: the most bytes of live files one organization may keep. */
  storageQuotaBytes: number;
  /** Largest accepted upload per file purpose, in bytes. */
  uploadLimits: { model: number; dataset: number };
  /**
   * TRUST_PROXY: whether the client address comes from X-Forwarded-For (set it only behind a proxy
   * that overwrites that header); off, it is the connection's peer.
   */
  trustProxy: boolean;
  /** Request budgets per route family (config/rate-limits.ts). */
  rateLimits: Record<RateLimitFamily, RateLimit>;
  /**
   * PORTAL_ORIGINS: the origins (scheme://host[:port]) a checkout may return the payer to, the
   * first for paths; unset, the origin the request reached (where the bundled portal is served).
   */
  portalOrigins: string[];
  /** Event streams (SSE) one API key or session may hold open at once. */
  maxEventStreamsPerKey: number;
  /** How long a job may stay `verifying` before it fails at no charge (docs/verification.md, Liveness). */
  verifyingDeadlineMs: number;
  /** How long a task may wait for a free worker of its profile before its job fails at no charge. */
  unassignedDeadlineMs: number;
}

type Env = Record<string, string | undefined>;

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function port(env: Env): number {
  const raw = optional(env, "PORT") ?? "8080";
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError("INVALID_PORT", `PORT must be an integer from 0 to 65535, got "${raw}"`);
  }
  return value;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const value = optional(env, name);
  if (value === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError("INVALID_URL", `${name} is not a URL: "${value}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(
      "INVALID_URL",
      `${name} must use ${protocols.join(" or ")}, got "${parsed.protocol}" in "${value}"`,
    );
  }
  return value;
}

function rate(env: Env): string {
  const raw = optional(env, "TOKEN_USD_RATE") ?? "0.01";
  if (!/^\d+(\.\d{1,12})?$/.test(raw) || Number(raw) <= 0) {
    throw new ConfigError(
      "INVALID_RATE",
      `TOKEN_USD_RATE must be a positive decimal with at most 12 fraction digits (USD per VT), got "${raw}"`,
    );
  }
  return raw;
}

// Uploads are inspected in memory once stored, and Node reads at most 2^31 - 1 bytes at once.
const MAX_UPLOAD_BYTES = 2 ** 31 - 1;

function byteLimit(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > MAX_UPLOAD_BYTES) {
    throw new ConfigError(
      "INVALID_LIMIT",
      `${name} must be a whole number of bytes from 1 to ${MAX_UPLOAD_BYTES}, got "${raw}"`,
    );
  }
  return value;
}

function quota(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(
      "INVALID_LIMIT",
      `${name} must be a whole number of bytes from 1 to ${Number.MAX_SAFE_INTEGER}, got "${raw}"`,
    );
  }
  return value;
}

// A day: long enough for every audit round and dispute turn at production windows (PROTOCOL.md §2).
const VERIFYING_DEADLINE_MS = 24 * 3_600_000;

// An hour: a worker of the task's profile that restarts or finishes another task is back well
// within it, and a user does not wait longer than that for a job that cannot move.
const UNASSIGNED_DEADLINE_MS = 3_600_000;

function milliseconds(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(
      "INVALID_DURATION",
      `${name} must be a whole number of milliseconds, at least 1, got "${raw}"`,
    );
  }
  return value;
}

/** The development conveniences a production process must not fall back on, each with its remedy. */
function productionProblems(env: Env): string[] {
  const problems: string[] = [];
  for (const [name, what] of [
    ["DATABASE_URL", "an embedded Postgres"],
    ["REDIS_URL", "a Redis server"],
    ["CHAIN_WS_URL", "a dev chain"],
  ] as const) {
    if (!optional(env, name)) problems.push(`${name} is unset: production never starts ${what} of its own`);
  }
  const seed = optional(env, "OPERATOR_SEED");
  if (!seed) problems.push("OPERATOR_SEED is unset: set the operator treasury's own secret");
  else if (isWellKnownDevSeed(seed))
    problems.push("OPERATOR_SEED is a public development key: anyone could sign as the operator");
  if (!optional(env, "PLATFORM_SIGNING_KEY"))
    problems.push("PLATFORM_SIGNING_KEY is unset: receipts must be signed with a key you publish and keep");
  return problems;
}

export function loadConfig(env: Env = process.env): Config {
  const production = optional(env, "NODE_ENV") === "production";
  if (production) {
    const problems = productionProblems(env);
    if (problems.length > 0) {
      throw new ConfigError(
        "UNSAFE_PRODUCTION_CONFIG",
        `NODE_ENV=production refuses to start:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
      );
    }
  }
  return {
    production,
    port: port(env),
    host: optional(env, "HOST") ?? "127.0.0.1",
    dataDir: resolve(optional(env, "VERITRAIN_DATA_DIR") ?? ".veritrain"),
    databaseUrl: url(env, "DATABASE_URL", ["postgres:", "postgresql:"]),
    redisUrl: url(env, "REDIS_URL", ["redis:", "rediss:"]),
    chainWsUrl: url(env, "CHAIN_WS_URL", ["ws:", "wss:"]),
    stripeSecretKey: optional(env, "STRIPE_SECRET_KEY"),
    stripeWebhookSecret: optional(env, "STRIPE_WEBHOOK_SECRET"),
    stripeApiBase: url(env, "STRIPE_API_BASE", ["http:", "https:"]),
    tokenUsdRate: rate(env),
    // //Alice is the dev chain's treasury; production refuses it (productionProblems).
    operatorSeed: optional(env, "OPERATOR_SEED") ?? "//Alice",
    // A PEM has newlines; deployments often pass them escaped in one line.
    platformSigningKey: optional(env, "PLATFORM_SIGNING_KEY")?.replaceAll("\\n", "\n"),
    logLevel: optional(env, "LOG_LEVEL") ?? "info",
    uploadLimits: {
      model: byteLimit(env, "MAX_MODEL_UPLOAD_BYTES", 200_000_000),
      dataset: byteLimit(env, "MAX_DATASET_UPLOAD_BYTES", 2_000_000_000),
    },
    storageQuotaBytes: quota(env, "STORAGE_QUOTA_BYTES", 20_000_000_000),
    trustProxy: flag(env, "TRUST_PROXY"),
    portalOrigins: origins(env, "PORTAL_ORIGINS"),
    rateLimits: rateLimits(env),
    maxEventStreamsPerKey: 8,
    verifyingDeadlineMs: milliseconds(env, "VERIFYING_DEADLINE_MS", VERIFYING_DEADLINE_MS),
    unassignedDeadlineMs: milliseconds(env, "UNASSIGNED_DEADLINE_MS", UNASSIGNED_DEADLINE_MS),
  };
}

/**
 * `RATE_LIMITS`: budgets that replace the defaults family by family, as JSON
 * (`{"signup": {"max": 100, "windowMs": 600000}}`); a deployment behind one address for many
 * users, or a test harness signing up many customers, raises them.
 */
function rateLimits(env: Env): Record<RateLimitFamily, RateLimit> {
  const raw = optional(env, "RATE_LIMITS");
  if (raw === undefined) return DEFAULT_RATE_LIMITS;
  const refuse = (why: string) =>
    new ConfigError(
      "INVALID_LIMIT",
      `RATE_LIMITS ${why}; expected JSON such as {"signup": {"max": 100, "windowMs": 600000}} with families ${RATE_LIMIT_FAMILIES.join(", ")}`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw refuse("is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw refuse("is not an object");
  const limits = { ...DEFAULT_RATE_LIMITS };
  for (const [family, limit] of Object.entries(parsed)) {
    if (!(RATE_LIMIT_FAMILIES as readonly string[]).includes(family))
      throw refuse(`names an unknown family "${family}"`);
    const { max, windowMs } = (limit ?? {}) as Partial<RateLimit>;
    if (!Number.isSafeInteger(max) || max! < 1 || !Number.isSafeInteger(windowMs) || windowMs! < 1) {
      throw refuse(`gives "${family}" no whole max and windowMs of at least 1`);
    }
    limits[family as RateLimitFamily] = { max: max!, windowMs: windowMs! };
  }
  return limits;
}

function origins(env: Env, name: string): string[] {
  const raw = optional(env, name);
  if (raw === undefined) return [];
  return raw
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      let parsed: URL | undefined;
      try {
        parsed = new URL(entry);
      } catch {
        parsed = undefined;
      }
      if (
        !parsed ||
        !["http:", "https:"].includes(parsed.protocol) ||
        parsed.origin !== entry.replace(/\/$/, "")
      ) {
        throw new ConfigError(
          "INVALID_URL",
          `${name} must list origins such as https://portal.example.com (scheme, host, port; no path), got "${entry}"`,
        );
      }
      return parsed.origin;
    });
}

function flag(env: Env, name: string): boolean {
  const value = optional(env, name)?.toLowerCase() ?? "false";
  if (!["true", "false", "1", "0"].includes(value)) {
    throw new ConfigError("INVALID_FLAG", `${name} must be true or false, got "${value}"`);
  }
  return value === "true" || value === "1";
}
