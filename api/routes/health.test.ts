// /v1/health is public: a failing backing service is reported down without the error text that
// names where it lives (hosts, ports, URLs), which goes to the server's log only.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { buildApp } from "../app.ts";

let t: TestApp;

before(async () => {
  t = await createTestApp();
});

after(async () => {
  await t.close();
});

test("a failing service is reported down without its internal address", async () => {
  const app = await buildApp({
    deps: {
      services: t.services,
      probes: {
        database: async () => {
          throw new Error("connect ECONNREFUSED 10.12.0.5:5432 (postgres.internal.example)");
        },
        redis: async () => undefined,
        chain: async () => {
          throw new Error("not connected to the chain node at ws://chain-0.internal.example:9944");
        },
      },
      rateLimits: t.rateLimits,
    },
  });
  try {
    const res = await app.inject({ method: "GET", url: "/v1/health" });
    assert.equal(res.statusCode, 503);
    assert.doesNotMatch(res.body, /10\.12\.0\.5|internal\.example|5432|9944/);
    const body = res.json<{ components: Record<string, { status: string; detail?: string }> }>();
    assert.deepEqual(
      [body.components.database, body.components.chain].map((c) => [c?.status, c?.detail]),
      [
        ["down", "unavailable"],
        ["down", "unavailable"],
      ],
    );
  } finally {
    await app.close();
  }
});
