import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import Stripe from "stripe";
import { signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { type StripeStandIn, startStripeStandIn } from "../../test/support/stripe-stand-in.ts";
import { uploadMlpFixtures } from "../../test/support/uploads.ts";

let t: TestApp;
let stripe: StripeStandIn;
before(async () => {
  stripe = await startStripeStandIn();
  t = await createTestApp({ ...stripe.config, portalOrigins: ["https://portal.example.com"] });
});
after(async () => {
  await t.close();
  await stripe.close();
});

const checkoutBody = {
  amount_cents: 2_500,
  success_url: "https://portal.example.com/billing?paid=1",
  cancel_url: "https://portal.example.com/billing",
};

async function checkout(headers: Record<string, string>, payload: object = checkoutBody) {
  return t.app.inject({ method: "POST", url: "/v1/billing/checkout-sessions", headers, payload });
}

async function deliver(event: Parameters<StripeStandIn["sign"]>[0], secret?: string) {
  const { payload, headers } = stripe.sign(event, secret);
  return t.app.inject({ method: "POST", url: "/v1/billing/webhook", headers, payload });
}

async function balanceOf(headers: Record<string, string>) {
  return (await t.app.inject({ method: "GET", url: "/v1/billing/balance", headers })).json();
}

/** A paid top-up through the whole path: checkout session, then its signed completion webhook. */
async function paidTopUp(headers: Record<string, string>, amount: number) {
  const session = (await checkout(headers, { ...checkoutBody, amount_cents: amount })).json();
  const completed = stripe.completedEvent(session.id);
  assert.equal((await deliver(completed)).statusCode, 200);
  return {
    sessionId: session.id as string,
    paymentIntent: stripe.sessions.get(session.id)!.payment_intent!,
    completed,
  };
}

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

test("a checkout session is created at Stripe for the organization and its URL returned", async () => {
  const alice = await signUp(t.app);
  const res = await checkout(alice.headers);
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json();
  assert.match(body.id, /^cs_test_/);
  assert.equal(body.url, `https://checkout.stripe.com/c/pay/${body.id}`);
  assert.equal(body.amount_cents, 2_500);
  assert.equal(body.currency, "usd");
  const sent = stripe.requests.at(-1)!;
  assert.equal(sent.mode, "payment");
  assert.equal(sent.client_reference_id, alice.organizationId);
  assert.deepEqual(sent.metadata, { organization_id: alice.organizationId, amount_cents: "2500" });
  assert.deepEqual(sent.line_items, {
    "0": {
      quantity: "1",
      price_data: {
        currency: "usd",
        unit_amount: "2500",
        product_data: { name: "Veritrain training credits" },
      },
    },
  });
});

test("checkout rejects bad input before calling Stripe", async () => {
  const bob = await signUp(t.app);
  const before = stripe.requests.length;
  const cases: Array<[object, string | null]> = [
    [{ ...checkoutBody, amount_cents: 499 }, "amount_cents"],
    [{ ...checkoutBody, amount_cents: 1_000_001 }, "amount_cents"],
    [{ ...checkoutBody, amount_cents: 10.5 }, "amount_cents"],
    [{ ...checkoutBody, amount_cents: "lots" }, "amount_cents"],
    [{ ...checkoutBody, success_url: "" }, "success_url"],
    [{ amount_cents: 1_000, success_url: checkoutBody.success_url }, "cancel_url"],
    [{ ...checkoutBody, currency: "eur" }, "currency"],
  ];
  for (const [payload, param] of cases) {
    assert.equal(expectApiError(await checkout(bob.headers, payload), 400, "parameter_invalid").param, param);
  }
  const malformed = await t.app.inject({
    method: "POST",
    url: "/v1/billing/checkout-sessions",
    headers: { ...bob.headers, "content-type": "application/json" },
    payload: "{",
  });
  expectApiError(malformed, 400, "invalid_json");
  expectApiError(await checkout({}), 401, "missing_credentials");
  assert.equal(stripe.requests.length, before);
});

test("checkout returns the payer only to the portal's origins or a path on the API (no open redirect)", async () => {
  const dee = await signUp(t.app);
  const before = stripe.requests.length;
  const refused: Array<[string, "success_url" | "cancel_url"]> = [
    ["https://evil.example/phish", "success_url"],
    ["https://portal.example.com.evil.example/billing", "success_url"],
    ["https://portal.example.com@evil.example/billing", "success_url"],
    ["//evil.example/billing", "cancel_url"],
    ["/\\evil.example/billing", "cancel_url"],
    ["http://portal.example.com/billing", "cancel_url"],
    ["http://localhost/billing", "success_url"],
    ["javascript:alert(1)", "cancel_url"],
    ["not a url", "success_url"],
  ];
  for (const [url, param] of refused) {
    const res = await checkout(dee.headers, { ...checkoutBody, [param]: url });
    const error = expectApiError(res, 400, "return_url_refused");
    assert.equal(error.param, param, url);
    assert.match(error.message, /https:\/\/portal\.example\.com/);
  }
  assert.equal(stripe.requests.length, before, "nothing refused reached Stripe");

  const res = await checkout(dee.headers, {
    ...checkoutBody,
    success_url: "/portal/?checkout=success",
    cancel_url: "https://portal.example.com/billing",
  });
  assert.equal(res.statusCode, 201, res.body);
  const sent = stripe.sessions.get(res.json().id)!;
  // Resolved against the configured portal, never the Host header the client sent.
  assert.equal(sent.success_url, "https://portal.example.com/portal/?checkout=success");
  assert.equal(sent.cancel_url, "https://portal.example.com/billing");
});

test("a retried checkout with the same Idempotency-Key creates one session", async () => {
  const carol = await signUp(t.app);
  const headers = { ...carol.headers, "idempotency-key": "checkout-1" };
  const before = stripe.requests.length;
  const first = await checkout(headers);
  const retry = await checkout(headers);
  assert.equal(retry.headers["idempotent-replayed"], "true");
  assert.deepEqual(retry.json(), first.json());
  assert.equal(stripe.requests.length, before + 1);
  expectApiError(
    await checkout(headers, { ...checkoutBody, amount_cents: 900 }),
    409,
    "idempotency_key_reused",
  );
});

test("the Idempotency-Key reaches Stripe, so a session created before a crash is not created twice", async () => {
  const cy = await signUp(t.app);
  const request = {
    amountCents: 1_000,
    successUrl: checkoutBody.success_url,
    cancelUrl: checkoutBody.cancel_url,
    origin: "http://localhost:8080",
  };
  const first = await t.services.billing.createCheckoutSession(cy.organizationId, request, "lost-response");
  const again = await t.services.billing.createCheckoutSession(cy.organizationId, request, "lost-response");
  assert.equal(again.id, first.id);
  const other = await t.services.billing.createCheckoutSession(cy.organizationId, request, "another");
  assert.notEqual(other.id, first.id);
});

test("with Stripe configured, there is no local test checkout", async () => {
  assert.equal(t.services.localCheckout, undefined);
  const res = await t.app.inject({
    method: "GET",
    url: `/v1/billing/local-checkout/cs_local_${"0".repeat(48)}`,
  });
  expectApiError(res, 404, "route_not_found");
});

test("a paid checkout credits the organization exactly once, however often and concurrently it is delivered", async () => {
  const eve = await signUp(t.app);
  const { sessionId, completed } = await paidTopUp(eve.headers, 4_000);
  assert.deepEqual(await balanceOf(eve.headers), { available_cents: 4_000, reserved_cents: 0 });
  const again = await deliver(completed);
  assert.deepEqual(again.json(), { received: true, outcome: "duplicate" });
  const burst = await Promise.all(Array.from({ length: 6 }, () => deliver(completed)));
  assert.ok(burst.every((r) => r.statusCode === 200));
  // The same payment reported by a different event (async payment methods) is the same cause.
  const asyncSuccess = stripe.event("checkout.session.async_payment_succeeded", {
    ...stripe.sessions.get(sessionId)!,
  });
  assert.deepEqual((await deliver(asyncSuccess)).json(), { received: true, outcome: "processed" });
  assert.deepEqual(await balanceOf(eve.headers), { available_cents: 4_000, reserved_cents: 0 });
  const tx = (
    await t.app.inject({ method: "GET", url: "/v1/billing/transactions", headers: eve.headers })
  ).json();
  assert.deepEqual(
    tx.data.map((d: { type: string }) => d.type),
    ["top_up"],
  );
});

test("a concurrent first delivery of one event credits once", async () => {
  const fay = await signUp(t.app);
  const session = (await checkout(fay.headers)).json();
  const completed = stripe.completedEvent(session.id);
  const results = await Promise.all(Array.from({ length: 5 }, () => deliver(completed)));
  const outcomes = results.map((r) => r.json().outcome).sort();
  assert.deepEqual(outcomes, ["duplicate", "duplicate", "duplicate", "duplicate", "processed"]);
  assert.deepEqual(await balanceOf(fay.headers), { available_cents: 2_500, reserved_cents: 0 });
});

test("an unpaid completion credits nothing; unknown events are acknowledged and ignored", async () => {
  const gus = await signUp(t.app);
  const session = (await checkout(gus.headers)).json();
  assert.equal((await deliver(stripe.completedEvent(session.id, "unpaid"))).statusCode, 200);
  const unknown = await deliver(stripe.event("customer.created", { id: "cus_123", object: "customer" }));
  assert.deepEqual(unknown.json(), { received: true, outcome: "ignored" });
  assert.deepEqual(await balanceOf(gus.headers), { available_cents: 0, reserved_cents: 0 });
});

test("bad signatures answer 400 and credit nothing", async () => {
  const hal = await signUp(t.app);
  const session = (await checkout(hal.headers)).json();
  const completed = stripe.completedEvent(session.id);
  const eventsBefore = await t.database.db.processedWebhookEvent.count();
  const wrongSecret = await deliver(completed, "whsec_not_the_secret");
  expectApiError(wrongSecret, 400, "invalid_signature");
  const { payload, headers } = stripe.sign(completed);
  const tampered = await t.app.inject({
    method: "POST",
    url: "/v1/billing/webhook",
    headers,
    payload: payload.replace('"amount_total": 2500', '"amount_total": 250000'),
  });
  expectApiError(tampered, 400, "invalid_signature");
  const unsigned = await t.app.inject({
    method: "POST",
    url: "/v1/billing/webhook",
    headers: { "content-type": "application/json" },
    payload,
  });
  expectApiError(unsigned, 400, "missing_signature");
  const garbage = await t.app.inject({
    method: "POST",
    url: "/v1/billing/webhook",
    headers: { ...headers, "stripe-signature": "t=1,v1=abc" },
    payload,
  });
  expectApiError(garbage, 400, "invalid_signature");
  const notJson = "this is not an event";
  const signedGarbage = await t.app.inject({
    method: "POST",
    url: "/v1/billing/webhook",
    headers: {
      "content-type": "application/json",
      "stripe-signature": Stripe.webhooks.generateTestHeaderString({
        payload: notJson,
        secret: stripe.config.stripeWebhookSecret!,
      }),
    },
    payload: notJson,
  });
  expectApiError(signedGarbage, 400, "invalid_json");
  assert.equal(await t.database.db.processedWebhookEvent.count(), eventsBefore);
  assert.deepEqual(await balanceOf(hal.headers), { available_cents: 0, reserved_cents: 0 });
});

test("refunds take back credits by the cumulative amount refunded; disputes take back the rest", async () => {
  const ivy = await signUp(t.app);
  const { paymentIntent } = await paidTopUp(ivy.headers, 10_000);
  const partial = stripe.refundedEvent(paymentIntent, 10_000, 3_000);
  await deliver(partial);
  await deliver(partial);
  assert.deepEqual(await balanceOf(ivy.headers), { available_cents: 7_000, reserved_cents: 0 });
  // A later refund event reports the running total, not the increment.
  await deliver(stripe.refundedEvent(paymentIntent, 10_000, 4_000));
  assert.deepEqual(await balanceOf(ivy.headers), { available_cents: 6_000, reserved_cents: 0 });
  // Credits already spent still come back: the balance goes negative (a debt) rather than lose money.
  await t.services.ledger.reserve(ivy.organizationId, 5_000, "test:ivy:job");
  await deliver(stripe.disputeEvent(paymentIntent, 10_000));
  assert.deepEqual(await balanceOf(ivy.headers), { available_cents: -5_000, reserved_cents: 5_000 });
  const types = (await t.app.inject({ method: "GET", url: "/v1/billing/transactions", headers: ivy.headers }))
    .json()
    .data.map((d: { type: string; available_change_cents: number }) => [d.type, d.available_change_cents]);
  assert.deepEqual(types, [
    ["dispute", -6_000],
    ["reservation", -5_000],
    ["refund", -1_000],
    ["refund", -3_000],
    ["top_up", 10_000],
  ]);
  const unknownPayment = await deliver(stripe.refundedEvent("pi_unknown", 500, 500));
  assert.equal(unknownPayment.statusCode, 200);

  // In debt, no new job starts, whatever the price, until a top-up repays it.
  await t.services.ledger.release(ivy.organizationId, 5_000, "test:ivy:job-released");
  assert.deepEqual(await balanceOf(ivy.headers), { available_cents: 0, reserved_cents: 0 });
  await deliver(stripe.refundedEvent(paymentIntent, 10_000, 10_000));
  const files = await uploadMlpFixtures(t.app, ivy);
  const spec = JSON.parse(
    await readFile(new URL("../../worker-runtime/fixtures/mlp.spec.json", import.meta.url), "utf8"),
  );
  const job = await t.app.inject({
    method: "POST",
    url: "/v1/training-jobs",
    headers: ivy.headers,
    payload: { ...files, spec, verification: "basic" },
  });
  const refused = expectApiError(job, 402, "balance_negative");
  assert.match(refused.message, /-\d+ cents after a refund or dispute/);
});

async function paymentsOf(headers: Record<string, string>) {
  const res = await t.app.inject({ method: "GET", url: "/v1/billing/payments", headers });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().data as Array<{
    id: string;
    status: string;
    amount_cents: number;
    receipt_url: string | null;
  }>;
}

test("a delayed payment is recorded as processing at completion and credited when it succeeds", async () => {
  const jo = await signUp(t.app);
  const session = (await checkout(jo.headers)).json();
  await deliver(stripe.completedEvent(session.id, "unpaid"));
  assert.deepEqual(
    (await paymentsOf(jo.headers)).map((p) => [p.id, p.status, p.amount_cents]),
    [[session.id, "processing", 2_500]],
  );
  assert.deepEqual(await balanceOf(jo.headers), { available_cents: 0, reserved_cents: 0 });
  const succeeded = stripe.event("checkout.session.async_payment_succeeded", {
    ...stripe.sessions.get(session.id)!,
    payment_status: "paid",
  });
  assert.deepEqual((await deliver(succeeded)).json(), { received: true, outcome: "processed" });
  assert.deepEqual(await balanceOf(jo.headers), { available_cents: 2_500, reserved_cents: 0 });
  assert.deepEqual(
    (await paymentsOf(jo.headers)).map((p) => p.status),
    ["paid"],
  );
});

test("a delayed payment that fails is recorded and shown, credits nothing, and never un-pays a paid one", async () => {
  const kit = await signUp(t.app);
  const session = (await checkout(kit.headers)).json();
  await deliver(stripe.completedEvent(session.id, "unpaid"));
  const failed = stripe.event("checkout.session.async_payment_failed", {
    ...stripe.sessions.get(session.id)!,
  });
  assert.deepEqual((await deliver(failed)).json(), { received: true, outcome: "processed" });
  assert.deepEqual(
    (await paymentsOf(kit.headers)).map((p) => [p.id, p.status]),
    [[session.id, "failed"]],
  );
  assert.deepEqual(await balanceOf(kit.headers), { available_cents: 0, reserved_cents: 0 });

  // Another session of the same organization, paid: a stray failure event for it changes nothing.
  const paid = await paidTopUp(kit.headers, 1_000);
  await deliver(
    stripe.event("checkout.session.async_payment_failed", { ...stripe.sessions.get(paid.sessionId)! }),
  );
  const payments = await paymentsOf(kit.headers);
  assert.deepEqual(payments.map((p) => p.status).sort(), ["failed", "paid"]);
  assert.deepEqual(await balanceOf(kit.headers), { available_cents: 1_000, reserved_cents: 0 });
  const otherOrg = await signUp(t.app);
  assert.deepEqual(await paymentsOf(otherOrg.headers), []);
});

test("a paid payment shows Stripe's receipt, read from its charge, or brought later by charge.succeeded", async () => {
  const lu = await signUp(t.app);
  const receiptOf = async (sessionId: string) =>
    (await paymentsOf(lu.headers)).find((p) => p.id === sessionId)!.receipt_url;

  const first = await paidTopUp(lu.headers, 1_000);
  assert.equal(await receiptOf(first.sessionId), stripe.charges.get(first.paymentIntent)!.receipt_url);

  // Stripe down when the session completed: credited all the same, the receipt follows its charge's event.
  stripe.paymentIntentsDown = true;
  try {
    const second = await paidTopUp(lu.headers, 2_000);
    assert.deepEqual(await balanceOf(lu.headers), { available_cents: 3_000, reserved_cents: 0 });
    assert.equal(await receiptOf(second.sessionId), null);
    const charged = stripe.chargeSucceededEvent(second.paymentIntent);
    assert.deepEqual((await deliver(charged)).json(), { received: true, outcome: "processed" });
    assert.equal(await receiptOf(second.sessionId), stripe.charges.get(second.paymentIntent)!.receipt_url);

    // Only an https page is kept as a link to show.
    const third = await paidTopUp(lu.headers, 1_000);
    const hostile = stripe.event("charge.succeeded", {
      ...stripe.charges.get(third.paymentIntent)!,
      receipt_url: "javascript:alert(document.cookie)",
    });
    await deliver(hostile);
    assert.equal(await receiptOf(third.sessionId), null);
  } finally {
    stripe.paymentIntentsDown = false;
  }
});
