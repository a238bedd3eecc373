import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";

let t: TestApp;
before(async () => {
  t = await createTestApp();
});
after(() => t.close());

test("balance and transactions show only the caller's organization", async () => {
  const alice = await signUp(t.app);
  const bob = await signUp(t.app);
  const { ledger } = t.services;
  await ledger.topUp(alice.organizationId, 5_000, "test:alice:topup");
  await ledger.reserve(alice.organizationId, 1_500, "test:alice:job");
  await ledger.topUp(bob.organizationId, 99, "test:bob:topup");

  const balance = await t.app.inject({ method: "GET", url: "/v1/billing/balance", headers: alice.headers });
  assert.deepEqual(balance.json(), { available_cents: 3_500, reserved_cents: 1_500 });
  const list = await t.app.inject({ method: "GET", url: "/v1/billing/transactions", headers: alice.headers });
  assert.deepEqual(
    list
      .json()
      .data.map((d: { type: string; available_change_cents: number }) => [d.type, d.available_change_cents]),
    [
      ["reservation", -1_500],
      ["top_up", 5_000],
    ],
  );
  const page = await t.app.inject({
    method: "GET",
    url: "/v1/billing/transactions?limit=1",
    headers: alice.headers,
  });
  assert.equal(page.json().has_more, true);
  const bobs = await t.app.inject({ method: "GET", url: "/v1/billing/transactions", headers: bob.headers });
  assert.equal(bobs.json().data.length, 1);
  const fresh = await signUp(t.app);
  const empty = await t.app.inject({ method: "GET", url: "/v1/billing/balance", headers: fresh.headers });
  assert.deepEqual(empty.json(), { available_cents: 0, reserved_cents: 0 });
});

test("billing reads need credentials and valid paging", async () => {
  expectApiError(
    await t.app.inject({ method: "GET", url: "/v1/billing/balance" }),
    401,
    "missing_credentials",
  );
  const carol = await signUp(t.app);
  for (const query of ["limit=0", "limit=abc", "after="]) {
    const res = await t.app.inject({
      method: "GET",
      url: `/v1/billing/transactions?${query}`,
      headers: carol.headers,
    });
    expectApiError(res, 400, "parameter_invalid");
  }
});
