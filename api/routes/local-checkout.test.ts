// The local payment stand-in of a development stack without Stripe keys: its page, Pay and Cancel,
// and that its credit goes through the webhook handling Stripe's events use (signature, exactly
// once, the ledger). In production mode it does not exist.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Stripe from "stripe";
import { signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { localCheckoutEnabled } from "../services/local-checkout.ts";

const portalOrigins = ["https://portal.example.com", "http://localhost:3000"];

let t: TestApp;
before(async () => {
  t = await createTestApp({ portalOrigins });
});
after(() => t.close());

const checkoutBody = {
  amount_cents: 2_500,
  success_url: "https://portal.example.com/billing?checkout=success",
  cancel_url: "http://localhost:3000/billing?checkout=cancelled",
};

async function startCheckout(headers: Record<string, string>, app = t.app) {
  const res = await app.inject({
    method: "POST",
    url: "/v1/billing/checkout-sessions",
    headers: { ...headers, host: "localhost:8080" },
    payload: checkoutBody,
  });
  assert.equal(res.statusCode, 201, res.body);
  return res.json<{ id: string; url: string; amount_cents: number; currency: string }>();
}

/** Presses one of the page's buttons as a browser does: an urlencoded form post. */
function press(id: string, button: "pay" | "cancel") {
  return t.app.inject({
    method: "POST",
    url: `/v1/billing/local-checkout/${id}/${button}`,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: "",
  });
}

/** Presses a button and expects the redirect back to the site that started the checkout. */
async function pressAndReturn(id: string, button: "pay" | "cancel") {
  const res = await press(id, button);
  assert.equal(res.statusCode, 303, res.body);
  assert.equal(res.headers.location, button === "pay" ? checkoutBody.success_url : checkoutBody.cancel_url);
}

const page = (id: string) => t.app.inject({ method: "GET", url: `/v1/billing/local-checkout/${id}` });

async function balanceOf(headers: Record<string, string>) {
  return (await t.app.inject({ method: "GET", url: "/v1/billing/balance", headers })).json();
}

async function transactionTypes(headers: Record<string, string>): Promise<string[]> {
  const list = await t.app.inject({ method: "GET", url: "/v1/billing/transactions", headers });
  return list.json<{ data: Array<{ type: string }> }>().data.map((d) => d.type);
}

test("the stand-in is on only outside production and without a Stripe secret key", () => {
  assert.equal(localCheckoutEnabled({ production: false, stripeSecretKey: undefined }), true);
  assert.equal(localCheckoutEnabled({ production: true, stripeSecretKey: undefined }), false);
  assert.equal(localCheckoutEnabled({ production: false, stripeSecretKey: "sk_test_1" }), false);
});

test("without Stripe keys, checkout returns the stack's own test payment page", async () => {
  const alice = await signUp(t.app);
  const session = await startCheckout(alice.headers);
  assert.match(session.id, /^cs_local_[0-9a-f]{48}$/);
  assert.equal(session.url, `http://localhost:8080/v1/billing/local-checkout/${session.id}`);
  assert.equal(session.amount_cents, 2_500);
  assert.equal(session.currency, "usd");

  const res = await page(session.id);
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^text\/html/);
  assert.match(res.body, /Test payment — no card is charged/);
  assert.match(res.body, /<button type="submit">Pay \$25\.00<\/button>/);
  assert.match(res.body, new RegExp(`action="/v1/billing/local-checkout/${session.id}/pay"`));
  assert.match(res.body, /href="\/portal\/styles\.css"/);
  const csp = String(res.headers["content-security-policy"]);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /form-action 'self' https:\/\/portal\.example\.com http:\/\/localhost:3000;/);
  assert.equal(res.headers["referrer-policy"], "no-referrer");

  expectApiError(await page("cs_local_unknown"), 404, "resource_missing");
  expectApiError(await press("cs_local_unknown", "pay"), 404, "resource_missing");
});

test("Pay credits the organization once, through the webhook, however often it is pressed", async () => {
  const bob = await signUp(t.app);
  const session = await startCheckout(bob.headers);
  await pressAndReturn(session.id, "pay");
  assert.deepEqual(await balanceOf(bob.headers), { available_cents: 2_500, reserved_cents: 0 });

  // The credit is the webhook's: a processed Stripe event and a payment row, as production makes.
  const row = await t.database.db.localCheckoutSession.findUniqueOrThrow({ where: { id: session.id } });
  assert.equal(row.status, "complete");
  assert.match(row.eventId!, /^evt_local_/);
  const processed = await t.database.db.processedWebhookEvent.findUnique({ where: { id: row.eventId! } });
  assert.equal(processed?.type, "checkout.session.completed");
  const payment = await t.database.db.stripePayment.findUniqueOrThrow({
    where: { checkoutSessionId: session.id },
  });
  assert.equal(payment.paymentIntentId, row.paymentIntentId);

  await pressAndReturn(session.id, "pay");
  await Promise.all(Array.from({ length: 4 }, () => pressAndReturn(session.id, "pay")));
  assert.deepEqual(await balanceOf(bob.headers), { available_cents: 2_500, reserved_cents: 0 });
  assert.deepEqual(await transactionTypes(bob.headers), ["top_up"]);

  // The payment's receipt is the session's page, now a receipt, at the address the payer used.
  const receipt = (
    await t.database.db.stripePayment.findUniqueOrThrow({ where: { checkoutSessionId: session.id } })
  ).receiptUrl!;
  assert.equal(new URL(receipt).pathname, `/v1/billing/local-checkout/${session.id}`);
  const shown = (await page(session.id)).body;
  assert.match(shown, /<h1 id="title">Receipt<\/h1>/);
  assert.match(shown, /Amount paid<\/dt><dd data-testid="amount">\$25\.00/);
  expectApiError(await press(session.id, "cancel"), 409, "checkout_session_paid");
});

test("two sessions paid at once credit both, each once", async () => {
  const cy = await signUp(t.app);
  const [first, second] = [await startCheckout(cy.headers), await startCheckout(cy.headers)];
  const results = await Promise.all(
    [first, second, first, second].map((s) =>
      t.app.inject({ method: "POST", url: `/v1/billing/local-checkout/${s!.id}/pay` }),
    ),
  );
  assert.ok(results.every((r) => r.statusCode === 303));
  assert.deepEqual(await balanceOf(cy.headers), { available_cents: 5_000, reserved_cents: 0 });
});

test("a cancelled or expired session credits nothing and cannot be paid", async () => {
  const dee = await signUp(t.app);
  const cancelled = await startCheckout(dee.headers);
  await pressAndReturn(cancelled.id, "cancel");
  await pressAndReturn(cancelled.id, "cancel");
  expectApiError(await press(cancelled.id, "pay"), 409, "checkout_session_expired");
  assert.match((await page(cancelled.id)).body, /Checkout closed/);

  const lapsed = await startCheckout(dee.headers);
  await t.database.db.localCheckoutSession.update({
    where: { id: lapsed.id },
    data: { expiresAt: new Date(Date.now() - 1000) },
  });
  expectApiError(await press(lapsed.id, "pay"), 409, "checkout_session_expired");
  assert.match((await page(lapsed.id)).body, /Checkout closed/);

  assert.deepEqual(await balanceOf(dee.headers), { available_cents: 0, reserved_cents: 0 });
  assert.deepEqual(await transactionTypes(dee.headers), []);
  assert.equal(await t.database.db.stripePayment.count({ where: { organizationId: dee.organizationId } }), 0);
});

test("the webhook takes events signed with the stack's own secret, kept in its data directory, and no others", async () => {
  const secretFile = join(t.config.dataDir, "local-checkout-webhook-secret");
  assert.equal(statSync(secretFile).mode & 0o777, 0o600);
  const eve = await signUp(t.app);
  const session = await startCheckout(eve.headers);
  const payload = JSON.stringify({
    id: "evt_forged",
    object: "event",
    type: "checkout.session.completed",
    data: {
      object: {
        id: session.id,
        object: "checkout.session",
        client_reference_id: eve.organizationId,
        amount_total: 1_000_000,
        currency: "usd",
        payment_status: "paid",
      },
    },
  });
  const forged = await t.app.inject({
    method: "POST",
    url: "/v1/billing/webhook",
    headers: {
      "content-type": "application/json",
      "stripe-signature": Stripe.webhooks.generateTestHeaderString({ payload, secret: "whsec_guessed" }),
    },
    payload,
  });
  expectApiError(forged, 400, "invalid_signature");
  assert.deepEqual(await balanceOf(eve.headers), { available_cents: 0, reserved_cents: 0 });
});

test("production mode refuses the stand-in: no local pages, and checkout stays 503 without Stripe keys", async () => {
  const production = await createTestApp({ production: true, portalOrigins });
  try {
    const fay = await signUp(production.app);
    const res = await production.app.inject({
      method: "POST",
      url: "/v1/billing/checkout-sessions",
      headers: fay.headers,
      payload: checkoutBody,
    });
    expectApiError(res, 503, "stripe_not_configured");
    const hook = await production.app.inject({ method: "POST", url: "/v1/billing/webhook", payload: "{}" });
    expectApiError(hook, 503, "stripe_not_configured");
    const id = `cs_local_${"0".repeat(48)}`;
    for (const [method, url] of [
      ["GET", `/v1/billing/local-checkout/${id}`],
      ["POST", `/v1/billing/local-checkout/${id}/pay`],
      ["POST", `/v1/billing/local-checkout/${id}/cancel`],
    ] as const) {
      expectApiError(await production.app.inject({ method, url }), 404, "route_not_found");
    }
    assert.equal(production.services.localCheckout, undefined);
  } finally {
    await production.close();
  }
});
