// Throughput of the API's hot routes, side by side in one run with two bare Fastify handlers over
// the same Postgres: one doing one indexed lookup (the floor a database-backed GET can reach) and
// one doing two (what a per-request API-key query would cost). The routes are the authenticated
// `GET /v1/training-jobs/{id}` (target: 3,000 req/s or more with p99 under 25 ms) and
// `POST /v1/training-jobs/quote` with a real body, repeated as a client polling for a price would.
// Every target is warmed up, then driven by `--connections` callers that each send as soon as the
// last answer came (so mean latency = connections / rate). autocannon runs in a worker thread so
// the load generator does not share the servers' event loop.
//
//   node --import tsx bench/api.ts [--duration 10] [--connections 50] [--warmup 2] [--path /v1/...]...
//
// `--path` adds authenticated GETs to measure. Needs DATABASE_URL and REDIS_URL (`npm run
// bench:api` starts embedded services for those unset, as the test runner does); it works in a
// schema, Redis prefix and data directory of its own, and builds the services without a chain or
// task queue, so the job it creates simply stays queued.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import Fastify from "fastify";
import { Redis } from "ioredis";
import type pg from "pg";
import { buildApp } from "../api/app.ts";
import { closeServices, createServices } from "../api/services/index.ts";
import { type Config, loadConfig } from "../config/env.ts";
import { createDatabase } from "../prisma/client.ts";
import { createPool } from "../prisma/pool.ts";
import { signUp } from "../test/support/accounts.ts";
import { createTestDatabase } from "../test/support/database.ts";
import { uploadMlpFixtures } from "../test/support/uploads.ts";

const { values: options } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "50" },
    warmup: { type: "string", default: "2" },
    path: { type: "string", multiple: true, default: [] },
  },
});

const TARGET = { requestsPerSecond: 3000, p99Ms: 25 };

interface Target {
  name: string;
  url: string;
  method?: "GET" | "POST";
  body?: string;
}

interface Row {
  target: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function load(target: Target, authorization: string, seconds: number) {
  return autocannon({
    url: target.url,
    method: target.method ?? "GET",
    headers: {
      authorization,
      ...(target.body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(target.body === undefined ? {} : { body: target.body }),
    duration: seconds,
    connections: Number(options.connections),
    workers: 1,
  });
}

async function measure(target: Target, authorization: string): Promise<Row> {
  // Warm-up: JIT, pool connections, and the caches a long-running server has filled.
  if (Number(options.warmup) > 0) await load(target, authorization, Number(options.warmup));
  const result = await load(target, authorization, Number(options.duration));
  return {
    target: target.name,
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** A handler that answers from `queries` sequential indexed lookups of the caller's key. */
async function bareServer(pool: pg.Pool, queries: 1 | 2) {
  const app = Fastify();
  app.get("/bare", async (request, reply) => {
    const secret = (request.headers.authorization ?? "").replace(/^Bearer /, "");
    const hash = createHash("sha256").update(secret).digest("hex");
    const key = await pool.query<{ organization_id: string }>(
      "SELECT organization_id FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL",
      [hash],
    );
    const organizationId = key.rows[0]?.organization_id;
    if (!organizationId) return reply.status(401).send({ error: "unauthenticated" });
    if (queries === 1) return { organization_id: organizationId };
    const org = await pool.query("SELECT id, name FROM organizations WHERE id = $1", [organizationId]);
    return { data: org.rows, has_more: false };
  });
  return { app, url: `${await app.listen({ port: 0, host: "127.0.0.1" })}/bare` };
}

const fixture = (path: string) => readFile(new URL(`../worker-runtime/fixtures/${path}`, import.meta.url));

function unlimited(limits: Config["rateLimits"]): Config["rateLimits"] {
  const entries = Object.entries(limits).map(([family, limit]) => [family, { ...limit, max: 1e9 }]);
  return Object.fromEntries(entries) as Config["rateLimits"];
}

const database = await createTestDatabase();
const redisUrl = process.env.REDIS_URL;
if (!redisUrl) throw new Error("REDIS_URL is not set");
const redis = new Redis(redisUrl, { keyPrefix: `bench:${database.schema}:` });
const dataDir = await mkdtemp(join(tmpdir(), "veritrain-bench-api-"));
const config = { ...loadConfig({}), dataDir, databaseUrl: database.url, redisUrl };
// The production pool sizes (the test helper's client keeps small ones); the bare handlers get a
// pool of their own below.
const db = createDatabase(database.url, 10);
const { pool: apiPool } = createPool(database.url, 10);
const services = createServices({ config, db, pool: apiPool, redis });
const api = await buildApp({
  deps: {
    services,
    probes: { database: async () => undefined, redis: async () => undefined, chain: async () => undefined },
    // Counted as in production, but never refused: the figures are the API's, not its budgets'.
    rateLimits: { redis, limits: unlimited(config.rateLimits) },
  },
});
const apiUrl = await api.listen({ port: 0, host: "127.0.0.1" });

// A caller with credit, a model and a dataset, and one job, all through the real routes.
const caller = await signUp(api);
await services.ledger.topUp(caller.organizationId, 100_000, "bench:credit");
const jobRequest = JSON.stringify({
  ...(await uploadMlpFixtures(api, caller)),
  spec: JSON.parse((await fixture("mlp.spec.json")).toString("utf8")),
  verification: "standard",
});
const created = await api.inject({
  method: "POST",
  url: "/v1/training-jobs",
  headers: { ...caller.headers, "content-type": "application/json" },
  payload: jobRequest,
});
if (created.statusCode !== 201)
  throw new Error(`creating the job failed: ${created.statusCode} ${created.body}`);
const jobId = created.json<{ id: string }>().id;

const { pool } = createPool(database.url, 10);
const oneQuery = await bareServer(pool, 1);
const twoQueries = await bareServer(pool, 2);

const JOB_GET = "veritrain GET /v1/training-jobs/{id}";
const targets: Target[] = [
  { name: "bare Fastify, 1 indexed query", url: oneQuery.url },
  { name: "bare Fastify, 2 indexed queries", url: twoQueries.url },
  { name: JOB_GET, url: `${apiUrl}/v1/training-jobs/${jobId}` },
  {
    name: "veritrain POST /v1/training-jobs/quote",
    url: `${apiUrl}/v1/training-jobs/quote`,
    method: "POST",
    body: jobRequest,
  },
  ...options.path.map((path) => ({ name: `veritrain GET ${path}`, url: `${apiUrl}${path}` })),
];

const rows: Row[] = [];
const loadBefore = loadavg()[0]!;
try {
  for (const target of targets) rows.push(await measure(target, caller.headers.authorization));
} finally {
  await Promise.all([api.close(), oneQuery.app.close(), twoQueries.app.close()]);
  await closeServices(services);
  await pool.end();
  await apiPool.end();
  await db.$disconnect();
  redis.disconnect();
  await database.drop();
  await rm(dataDir, { recursive: true, force: true });
}
const loadAfter = loadavg()[0]!;

console.log(
  `\n${options.connections} connections, ${options.warmup} s warm-up + ${options.duration} s per target, ` +
    `${new Date().toISOString()}, load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after\n`,
);
const floor = rows[0]!.requestsPerSecond;
console.log(
  "| target | req/s | p50 ms | p99 ms | non-2xx | errors | req/s vs 1-query bare |\n" +
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
);
for (const row of rows) {
  const ratio = (row.requestsPerSecond / floor).toFixed(2);
  console.log(
    `| ${row.target} | ${row.requestsPerSecond} | ${row.p50} | ${row.p99} | ${row.non2xx} | ${row.errors} | ${ratio}x |`,
  );
}
const get = rows.find((row) => row.target === JOB_GET)!;
const fast = get.requestsPerSecond >= TARGET.requestsPerSecond;
const short = get.p99 < TARGET.p99Ms;
console.log(
  `\nGET /v1/training-jobs/{id}: ${get.requestsPerSecond} req/s (${fast ? "meets" : "below"} ` +
    `${TARGET.requestsPerSecond}), p99 ${get.p99} ms (${short ? "meets" : "not under"} ${TARGET.p99Ms} ms): ` +
    `${fast && short ? "meets" : "does NOT meet"} the target`,
);
const failed = rows.filter((row) => row.non2xx > 0 || row.errors > 0);
if (failed.length > 0) {
  console.log(`non-2xx responses or errors on: ${failed.map((row) => row.target).join(", ")}`);
  process.exitCode = 1;
}
