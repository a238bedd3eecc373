// Authenticated GET throughput of the real API, side by side in one run with two bare Fastify
// handlers over the same Postgres: one doing one indexed lookup (the floor a database-backed GET
// can reach) and one doing two (what a per-request API-key query would cost). autocannon runs in
// a worker thread so the load generator does not share the servers' event loop.
//
//   node --import tsx bench/api.ts [--path /v1/api-keys] [--duration 10] [--connections 50]
//
// Needs DATABASE_URL and REDIS_URL (the suite's services); it works in a schema of its own.
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import Fastify from "fastify";
import { Redis } from "ioredis";
import type pg from "pg";
import { buildApp } from "../api/app.ts";
import { createServices } from "../api/services/index.ts";
import { loadConfig } from "../config/env.ts";
import { createDatabase } from "../prisma/client.ts";
import { createPool } from "../prisma/pool.ts";
import { signUp } from "../test/support/accounts.ts";
import { createTestDatabase } from "../test/support/database.ts";

const { values: options } = parseArgs({
  options: {
    path: { type: "string", default: "/v1/api-keys" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "50" },
  },
});

interface Row {
  target: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
}

async function measure(target: string, url: string, authorization: string): Promise<Row> {
  const result = await autocannon({
    url,
    headers: { authorization },
    duration: Number(options.duration),
    connections: Number(options.connections),
    workers: 1,
  });
  return {
    target,
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
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

const database = await createTestDatabase();
const redisUrl = process.env.REDIS_URL;
if (!redisUrl) throw new Error("REDIS_URL is not set");
const redis = new Redis(redisUrl, { keyPrefix: `bench:${database.schema}:` });
const config = { ...loadConfig({}), databaseUrl: database.url, redisUrl };
// The production pool sizes (the test helper's client keeps small ones); the bare handlers get a
// pool of their own below.
const db = createDatabase(database.url, 10);
const { pool: apiPool } = createPool(database.url, 10);
const services = createServices({ config, db, pool: apiPool, redis });
const api = await buildApp({
  deps: {
    services,
    probes: { database: async () => undefined, redis: async () => undefined, chain: async () => undefined },
  },
});
const apiUrl = await api.listen({ port: 0, host: "127.0.0.1" });
const caller = await signUp(api);

const { pool } = createPool(database.url, 10);
const oneQuery = await bareServer(pool, 1);
const twoQueries = await bareServer(pool, 2);

const rows: Row[] = [];
try {
  rows.push(
    await measure(`veritrain GET ${options.path}`, `${apiUrl}${options.path}`, caller.headers.authorization),
  );
  rows.push(await measure("bare Fastify, 1 indexed query", oneQuery.url, caller.headers.authorization));
  rows.push(await measure("bare Fastify, 2 indexed queries", twoQueries.url, caller.headers.authorization));
} finally {
  await Promise.all([api.close(), oneQuery.app.close(), twoQueries.app.close()]);
  await pool.end();
  await apiPool.end();
  await db.$disconnect();
  redis.disconnect();
  await database.drop();
}

console.log(
  `\n${options.connections} connections, ${options.duration} s per target, ${new Date().toISOString()}\n`,
);
console.log("| target | req/s | p50 ms | p99 ms | non-2xx |\n| --- | ---: | ---: | ---: | ---: |");
for (const row of rows) {
  console.log(`| ${row.target} | ${row.requestsPerSecond} | ${row.p50} | ${row.p99} | ${row.non2xx} |`);
}
