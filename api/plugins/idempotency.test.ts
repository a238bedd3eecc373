import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Type } from "@sinclair/typebox";
import { signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { type App, buildApp } from "../app.ts";
import { ApiError } from "../errors.ts";

let t: TestApp;
let app: App;
const up = async () => undefined;

before(async () => {
  t = await createTestApp();
  app = await buildApp({
    deps: { services: t.services, probes: { database: up, redis: up, chain: up }, rateLimits: t.rateLimits },
  });
  // A route that creates something real (an API key) the way resource routes do.
  app.post(
    "/v1/widgets",
    {
      onRequest: app.authenticate,
      config: { idempotency: true },
      schema: {
        body: Type.Object({
          name: Type.String(),
          delay_ms: Type.Optional(Type.Integer()),
          fail: Type.Optional(Type.Boolean()),
          crash_after_commit: Type.Optional(Type.Boolean()),
        }),
      },
    },
    async (request, reply) => {
      if (request.body.delay_ms) await sleep(request.body.delay_ms);
      if (request.body.fail) throw ApiError.badRequest("parameter_invalid", "refused on request");
      // The effect and its recorded response commit together, as a transactional service does it.
      const widget = await t.database.db.$transaction(async (tx) => {
        const key = await t.services.apiKeys.create(request.auth.organizationId, request.body.name, tx);
        const view = { id: key.id, name: key.name };
        await request.idempotency?.recordIn(tx, 201, view);
        return view;
      });
      if (request.body.crash_after_commit) throw new Error("the process failed after committing");
      return reply.status(201).send(widget);
    },
  );
  await app.ready();
});
after(async () => {
  await app.close();
  await t.close();
});

function post(headers: Record<string, string>, payload: object) {
  return app.inject({ method: "POST", url: "/v1/widgets", headers, payload });
}

test("a retry with the same key and body replays the first response without a second effect", async () => {
  const alice = await signUp(t.app);
  const headers = { ...alice.headers, "idempotency-key": "order-1" };
  const first = await post(headers, { name: "w" });
  assert.equal(first.statusCode, 201);
  assert.equal(first.headers["idempotent-replayed"], undefined);
  const retry = await post(headers, { name: "w" });
  assert.equal(retry.statusCode, 201);
  assert.equal(retry.headers["idempotent-replayed"], "true");
  assert.deepEqual(retry.json(), first.json());
  assert.equal(await t.database.db.apiKey.count({ where: { organizationId: alice.organizationId } }), 2);
});

test("the same key with a different body answers 409 and does nothing", async () => {
  const bob = await signUp(t.app);
  const headers = { ...bob.headers, "idempotency-key": "order-1" };
  assert.equal((await post(headers, { name: "a" })).statusCode, 201);
  const error = expectApiError(await post(headers, { name: "b" }), 409, "idempotency_key_reused");
  assert.equal(error.type, "idempotency_error");
  assert.equal(error.param, "idempotency-key");
  assert.equal(await t.database.db.apiKey.count({ where: { organizationId: bob.organizationId } }), 2);
});

test("keys are per organization: another organization's identical key is independent", async () => {
  const carol = await signUp(t.app);
  const dan = await signUp(t.app);
  const c = await post({ ...carol.headers, "idempotency-key": "shared" }, { name: "x" });
  const d = await post({ ...dan.headers, "idempotency-key": "shared" }, { name: "x" });
  assert.equal(d.statusCode, 201);
  assert.equal(d.headers["idempotent-replayed"], undefined);
  assert.notEqual(c.json().id, d.json().id);
});

test("a retry while the first request is still running answers 409; afterwards it replays", async () => {
  const eve = await signUp(t.app);
  const headers = { ...eve.headers, "idempotency-key": "slow" };
  const slow = post(headers, { name: "s", delay_ms: 400 });
  while (
    (await t.database.db.idempotencyRecord.count({ where: { organizationId: eve.organizationId } })) === 0
  ) {
    await sleep(10);
  }
  expectApiError(await post(headers, { name: "s", delay_ms: 400 }), 409, "idempotency_request_in_progress");
  assert.equal((await slow).statusCode, 201);
  const replay = await post(headers, { name: "s", delay_ms: 400 });
  assert.equal(replay.headers["idempotent-replayed"], "true");
  assert.equal(await t.database.db.apiKey.count({ where: { organizationId: eve.organizationId } }), 2);
});

test("concurrent duplicates run the effect exactly once", async () => {
  const frank = await signUp(t.app);
  const headers = { ...frank.headers, "idempotency-key": "burst" };
  const results = await Promise.all(
    Array.from({ length: 8 }, () => post(headers, { name: "b", delay_ms: 100 })),
  );
  // On a slow machine a late duplicate may arrive after the first finished: it gets the replay.
  const ran = results.filter((r) => r.statusCode === 201 && r.headers["idempotent-replayed"] === undefined);
  assert.equal(ran.length, 1);
  for (const r of results.filter((r) => r !== ran[0])) {
    if (r.statusCode === 201) assert.deepEqual(r.json(), ran[0]!.json());
    else expectApiError(r, 409, "idempotency_request_in_progress");
  }
  assert.equal(await t.database.db.apiKey.count({ where: { organizationId: frank.organizationId } }), 2);
});

test("an error response releases the key, so a corrected retry runs", async () => {
  const gina = await signUp(t.app);
  const headers = { ...gina.headers, "idempotency-key": "flaky" };
  expectApiError(await post(headers, { name: "f", fail: true }), 400, "parameter_invalid");
  assert.equal(
    await t.database.db.idempotencyRecord.count({ where: { organizationId: gina.organizationId } }),
    0,
  );
  const retry = await post(headers, { name: "f" });
  assert.equal(retry.statusCode, 201);
  assert.equal(retry.headers["idempotent-replayed"], undefined);
});

test("a malformed key or body is rejected before anything is claimed", async () => {
  const hank = await signUp(t.app);
  const tooLong = await post({ ...hank.headers, "idempotency-key": "k".repeat(256) }, { name: "x" });
  assert.equal(expectApiError(tooLong, 400, "parameter_invalid").param, "idempotency-key");
  const badBody = await post({ ...hank.headers, "idempotency-key": "ok" }, { name: { nested: true } });
  expectApiError(badBody, 400, "parameter_invalid");
  assert.equal(
    await t.database.db.idempotencyRecord.count({ where: { organizationId: hank.organizationId } }),
    0,
  );
  const fine = await post({ ...hank.headers, "idempotency-key": "ok" }, { name: "x" });
  assert.equal(fine.statusCode, 201);
});

test("a response recorded in the effect's transaction survives a failure after the commit", async () => {
  const ida = await signUp(t.app);
  const headers = { ...ida.headers, "idempotency-key": "commit-then-crash" };
  const failed = await post(headers, { name: "c", crash_after_commit: true });
  expectApiError(failed, 500, "internal_error");
  const retry = await post(headers, { name: "c", crash_after_commit: true });
  assert.equal(retry.statusCode, 201);
  assert.equal(retry.headers["idempotent-replayed"], "true");
  const created = await t.database.db.apiKey.findMany({
    where: { organizationId: ida.organizationId, name: "c" },
  });
  assert.deepEqual(retry.json(), { id: created[0]!.id, name: "c" });
  assert.equal(created.length, 1);
});
