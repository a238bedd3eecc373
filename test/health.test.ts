// The API process as `veritrain api` runs it, against a real database schema, a Redis of its
// own (so the test can stop it) and the dev chain: health is 200 while all are up, 503 after.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type RunningApi, startApi } from "../api/server.ts";
import { type Devnet, startDevnet } from "../chain/index.ts";
import { type EmbeddedServices, startEmbeddedServices } from "../config/embedded-services.ts";
import { loadConfig } from "../config/env.ts";
import { GatewayClient } from "../worker-runtime/node/gateway-client.ts";
import { loadIdentity } from "../worker-runtime/node/identity.ts";
import { createEmptySchema } from "./support/database.ts";

let dir: string;
let schema: Awaited<ReturnType<typeof createEmptySchema>>;
let redis: EmbeddedServices;
let devnet: Devnet;
let api: RunningApi;
let stopRestarted: () => Promise<void> = async () => undefined;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "veritrain-health-"));
  schema = await createEmptySchema();
  redis = await startEmbeddedServices({ dataDir: dir, databaseUrl: schema.url, redisUrl: undefined });
  devnet = await startDevnet({ port: 0, dataDir: join(dir, "chain"), blockTimeMs: 0 });
  api = await startApi(
    { ...loadConfig({}), port: 0 },
    { databaseUrl: schema.url, redisUrl: redis.env.REDIS_URL, chainWsUrl: devnet.wsUrl },
  );
  // A worker that has asked for work: the gateway holds queue connections for it, which is what
  // a shutdown during a Redis outage has to close.
  const worker = new GatewayClient(api.url, await loadIdentity("//Bob"));
  await worker.register(["worker"], "e".repeat(64));
  assert.equal(await worker.claimTraining(0), null);
});

after(async () => {
  await api.close();
  await stopRestarted();
  await devnet.stop();
  await redis.stop();
  await schema.drop();
  rmSync(dir, { recursive: true, force: true });
});

interface Health {
  status: string;
  components: Record<string, { status: string; detail?: string }>;
}

async function health(): Promise<{ status: number; body: Health }> {
  const res = await fetch(`${api.url}/v1/health`);
  return { status: res.status, body: (await res.json()) as Health };
}

test("health is 200 with every component up, and the chain reports its head", async () => {
  const { status, body } = await health();
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.status, "ok");
  for (const name of ["database", "redis", "chain"]) assert.equal(body.components[name]?.status, "up", name);
  assert.match(String(body.components.chain?.detail), /block #\d+/);
});

test("health goes 503 when Redis stops, naming Redis as the component that is down", async () => {
  await redis.stop();
  // The API learns of the closed connection asynchronously; an outage is reported within seconds.
  let { status, body } = await health();
  for (let i = 0; i < 50 && status === 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    ({ status, body } = await health());
  }
  assert.equal(status, 503);
  assert.equal(body.status, "degraded");
  assert.equal(body.components.redis?.status, "down");
  assert.equal(body.components.database?.status, "up");
  assert.equal(body.components.chain?.status, "up");
});

test("health returns to 200 once Redis is back on its address", async () => {
  const port = new URL(redis.env.REDIS_URL).port;
  const restarted = spawn(
    "redis-server",
    ["--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  stopRestarted = () =>
    new Promise<void>((resolve) => {
      restarted.once("exit", () => resolve());
      restarted.kill("SIGTERM");
    });
  let { status } = await health();
  for (let i = 0; i < 100 && status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    ({ status } = await health());
  }
  assert.equal(status, 200);
});

test("the API stops within seconds even while Redis is unreachable", async () => {
  await stopRestarted();
  stopRestarted = async () => undefined;
  // Queue connections closing against a dead Redis would wait for a reconnect forever.
  const outcome = await Promise.race([
    api.close().then(() => "stopped"),
    sleep(30_000).then(() => "still stopping after 30 s"),
  ]);
  assert.equal(outcome, "stopped");
});
