import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, suiteRedisUrl, type TestApp } from "../../test/support/app.ts";
import { buildApp } from "../app.ts";
import { ApiKeys } from "../services/api-keys.ts";
import { createServices } from "../services/index.ts";

let t: TestApp;
before(async () => {
  t = await createTestApp();
});
after(() => t.close());

test("create shows the secret once, list never does, and the new key authenticates", async () => {
  const alice = await signUp(t.app);
  const created = await t.app.inject({
    method: "POST",
    url: "/v1/api-keys",
    headers: alice.headers,
    payload: { name: "ci" },
  });
  assert.equal(created.statusCode, 201, created.body);
  const key = created.json();
  assert.match(key.id, /^key_/);
  assert.match(key.secret, /^vt_/);

  const list = await t.app.inject({ method: "GET", url: "/v1/api-keys", headers: alice.headers });
  const body = list.json();
  assert.deepEqual(
    body.data.map((k: { id: string }) => k.id),
    [key.id, alice.apiKeyId],
  );
  assert.equal(body.has_more, false);
  assert.ok(!list.body.includes("secret"));
  assert.ok(!list.body.includes(key.secret));

  const withNewKey = await t.app.inject({
    method: "GET",
    url: "/v1/api-keys",
    headers: { authorization: `Bearer ${key.secret}` },
  });
  assert.equal(withNewKey.statusCode, 200);
  const stored = await t.database.db.apiKey.findUniqueOrThrow({ where: { id: key.id } });
  assert.ok(stored.lastUsedAt, "the first use is recorded");
});

test("the list pages newest first with limit and after", async () => {
  const bob = await signUp(t.app);
  const ids = [bob.apiKeyId];
  for (let i = 0; i < 4; i++) {
    const res = await t.app.inject({
      method: "POST",
      url: "/v1/api-keys",
      headers: bob.headers,
      payload: { name: `k${i}` },
    });
    ids.unshift(res.json().id);
  }
  const first = await t.app.inject({ method: "GET", url: "/v1/api-keys?limit=2", headers: bob.headers });
  assert.deepEqual(
    first.json().data.map((k: { id: string }) => k.id),
    ids.slice(0, 2),
  );
  assert.equal(first.json().has_more, true);
  const rest = await t.app.inject({
    method: "GET",
    url: `/v1/api-keys?limit=10&after=${ids[1]}`,
    headers: bob.headers,
  });
  assert.deepEqual(
    rest.json().data.map((k: { id: string }) => k.id),
    ids.slice(2),
  );
  assert.equal(rest.json().has_more, false);
  for (const query of ["limit=0", "limit=101", "limit=ten", "colour=red"]) {
    const res = await t.app.inject({ method: "GET", url: `/v1/api-keys?${query}`, headers: bob.headers });
    expectApiError(res, 400, "parameter_invalid");
  }
});

test("creating rejects bad bodies and writes nothing", async () => {
  const carol = await signUp(t.app);
  const before = await t.database.db.apiKey.count();
  for (const payload of [{}, { name: "" }, { name: { first: "x" } }, { name: "ok", scope: "all" }]) {
    const res = await t.app.inject({ method: "POST", url: "/v1/api-keys", headers: carol.headers, payload });
    expectApiError(res, 400, "parameter_invalid");
  }
  const malformed = await t.app.inject({
    method: "POST",
    url: "/v1/api-keys",
    headers: { ...carol.headers, "content-type": "application/json" },
    payload: "{name:",
  });
  expectApiError(malformed, 400, "invalid_json");
  const anonymous = await t.app.inject({ method: "POST", url: "/v1/api-keys", payload: { name: "x" } });
  expectApiError(anonymous, 401, "missing_credentials");
  assert.equal(await t.database.db.apiKey.count(), before);
});

test("revoking stops the key at once; unknown and foreign keys answer 404 and stay active", async () => {
  const dan = await signUp(t.app);
  const eve = await signUp(t.app);
  const foreign = await t.app.inject({
    method: "DELETE",
    url: `/v1/api-keys/${eve.apiKeyId}`,
    headers: dan.headers,
  });
  expectApiError(foreign, 404, "resource_missing");
  const unknown = await t.app.inject({
    method: "DELETE",
    url: "/v1/api-keys/key_nope",
    headers: dan.headers,
  });
  expectApiError(unknown, 404, "resource_missing");
  const eveStillWorks = await t.app.inject({ method: "GET", url: "/v1/api-keys", headers: eve.headers });
  assert.equal(eveStillWorks.statusCode, 200);

  const second = await t.app.inject({
    method: "POST",
    url: "/v1/api-keys",
    headers: dan.headers,
    payload: { name: "second" },
  });
  const revoked = await t.app.inject({
    method: "DELETE",
    url: `/v1/api-keys/${dan.apiKeyId}`,
    headers: { authorization: `Bearer ${second.json().secret}` },
  });
  assert.equal(revoked.statusCode, 200, revoked.body);
  assert.ok(revoked.json().revoked_at);
  const stale = await t.app.inject({ method: "GET", url: "/v1/api-keys", headers: dan.headers });
  expectApiError(stale, 401, "invalid_api_key");
  const again = await t.app.inject({
    method: "DELETE",
    url: `/v1/api-keys/${dan.apiKeyId}`,
    headers: { authorization: `Bearer ${second.json().secret}` },
  });
  expectApiError(again, 404, "resource_missing");
});

test("a revocation in one API process evicts the cached key in another within moments", async () => {
  const frank = await signUp(t.app);
  // A second API process over the same database: its own services, cache and Redis connection.
  const redis = new Redis(suiteRedisUrl(), { maxRetriesPerRequest: 3 });
  const other = await buildApp({
    deps: {
      services: createServices({ config: t.config, db: t.database.db, pool: t.pool, redis }),
      probes: { database: async () => undefined, redis: async () => undefined, chain: async () => undefined },
      rateLimits: t.rateLimits,
    },
  });
  await other.ready();
  try {
    const warm = await other.inject({ method: "GET", url: "/v1/api-keys", headers: frank.headers });
    assert.equal(warm.statusCode, 200, "the other process has verified and cached the key");
    const revoked = await t.app.inject({
      method: "DELETE",
      url: `/v1/api-keys/${frank.apiKeyId}`,
      headers: frank.headers,
    });
    assert.equal(revoked.statusCode, 200);
    let status = 200;
    for (let i = 0; i < 250 && status === 200; i++) {
      await sleep(20);
      status = (await other.inject({ method: "GET", url: "/v1/api-keys", headers: frank.headers }))
        .statusCode;
    }
    assert.equal(status, 401, "the other process no longer accepts the revoked key");
  } finally {
    await other.close();
    redis.disconnect();
  }
});

test("a verified key is served from memory, and the TTL bounds a revocation whose message was lost", async () => {
  const gina = await signUp(t.app);
  const keys = new ApiKeys(t.database.db, t.redis, { cacheTtlMs: 2_000 });
  assert.ok(await keys.verify(gina.apiKey));
  // Revoked behind the service's back: no eviction, no message; only the cache can answer now.
  await t.database.db.apiKey.update({ where: { id: gina.apiKeyId }, data: { revokedAt: new Date() } });
  assert.deepEqual(await keys.verify(gina.apiKey), {
    apiKeyId: gina.apiKeyId,
    organizationId: gina.organizationId,
  });
  await sleep(2_100);
  assert.equal(await keys.verify(gina.apiKey), null);
});

test("concurrent first uses of a key share one lookup", async () => {
  const hugo = await signUp(t.app);
  const db = t.database.db;
  let queries = 0;
  // The real client, with its raw queries counted.
  const counted = Object.create(db, {
    $queryRaw: {
      value: (...args: Parameters<typeof db.$queryRaw>) => {
        queries++;
        return db.$queryRaw(...args);
      },
    },
  }) as typeof db;
  const keys = new ApiKeys(counted, t.redis);
  const results = await Promise.all(Array.from({ length: 20 }, () => keys.verify(hugo.apiKey)));
  assert.ok(results.every((r) => r?.organizationId === hugo.organizationId));
  assert.equal(queries, 1);
  await keys.verify(hugo.apiKey);
  assert.equal(queries, 1, "later uses are served from the cache");
});

test("made-up keys cost one lookup each per period, in a bounded cache", async () => {
  const db = t.database.db;
  let queries = 0;
  const counted = Object.create(db, {
    $queryRaw: {
      value: (...args: Parameters<typeof db.$queryRaw>) => {
        queries++;
        return db.$queryRaw(...args);
      },
    },
  }) as typeof db;
  const keys = new ApiKeys(counted, t.redis, { cacheMaxEntries: 4, unknownTtlMs: 60_000 });
  const madeUp = (i: number) => `vt_${String(i).padStart(43, "x")}`;
  for (let round = 0; round < 10; round++) assert.equal(await keys.verify(madeUp(0)), null);
  assert.equal(queries, 1, "one unknown secret is looked up once");
  // More made-up secrets than the cache holds: the oldest is forgotten and looked up again.
  for (let i = 1; i <= 4; i++) await keys.verify(madeUp(i));
  assert.equal(queries, 5);
  await keys.verify(madeUp(0));
  assert.equal(queries, 6);
});
