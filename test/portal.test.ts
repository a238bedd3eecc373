// The web billing portal in a real browser (Debian's Chromium driven by playwright-core) against
// the real app listening on a free port: sign up, balance, top-ups (the ledger directly, then
// Stripe Checkout through the Stripe stand-in), API keys, log out and in, training jobs.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { createTestApp, type TestApp } from "./support/app.ts";
import { type StripeStandIn, startStripeStandIn } from "./support/stripe-stand-in.ts";
import { multipartBody } from "./support/uploads.ts";

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing, so the portal's browser test cannot run: install it with \`apt-get install -y chromium\``;
/** Waits for the page, not for time: generous, since the machine's two cores are shared. */
const TIMEOUT_MS = 15_000;

let stripe: StripeStandIn;
let testApp: TestApp;
let base: string;
let browser: Browser;

before(async () => {
  if (skip) return;
  stripe = await startStripeStandIn();
  testApp = await createTestApp(stripe.config);
  base = await testApp.app.listen({ port: 0, host: "127.0.0.1" });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  await testApp?.close();
  await stripe?.close();
});

/** Waits until the locator's text is exactly `text` (or matches the pattern). */
async function expectText(locator: Locator, text: string | RegExp) {
  const escaped = typeof text === "string" ? text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") : "";
  const pattern = typeof text === "string" ? new RegExp(`^\\s*${escaped}\\s*$`) : text;
  await locator.filter({ hasText: pattern }).first().waitFor({ timeout: TIMEOUT_MS });
}

/** Fails on what a user would not see but must not happen: script errors, CSP refusals, outside requests. */
function watch(page: Page, origin = base) {
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  page.on("console", (message) => {
    // A refused request (401 before login, the wrong password) is logged too; that is the API working.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith("https://checkout.stripe.com/")) {
      problems.push(`outside request: ${url}`);
    }
  });
  return problems;
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

const heading = (page: Page, name: string) => page.getByRole("heading", { level: 1, name });

/** Signed out, the portal offers the login form; signing up logs in and lands on billing. */
async function signUpInPortal(page: Page, origin: string, email: string, password: string) {
  await page.goto(`${origin}/portal/`);
  await heading(page, "Log in").waitFor();
  await page.getByRole("link", { name: "Create an account" }).click();
  await heading(page, "Create an account").waitFor();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await heading(page, "Billing").waitFor({ timeout: TIMEOUT_MS });
  await expectText(page.getByTestId("available"), "$0.00");
}

test("a user signs up, buys credits, manages API keys and follows a training job", { skip }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = watch(page);
  const email = `portal-${Date.now()}@example.com`;
  const password = "correct horse battery";

  await signUpInPortal(page, base, email, password);
  await expectText(page.getByTestId("reserved"), "$0.00");
  await page.getByText("No transactions yet.").waitFor();
  const firstKey = (await page.getByTestId("secret").textContent()) ?? "";
  assert.match(firstKey, /^vt_/);

  // Credits arrive as the webhook posts them; a reload shows the balance and the transaction.
  const session = await (await page.request.get(`${base}/v1/auth/session`)).json();
  await testApp.services.ledger.topUp(session.organization_id, 2500, "test:portal-top-up");
  await page.reload();
  await expectText(page.getByTestId("available"), "$25.00");
  const topUpRow = page.getByTestId("transactions").getByRole("row");
  await expectText(topUpRow.filter({ hasText: "Credits bought" }).getByRole("cell").nth(2), "+$25.00");
  assert.equal(await topUpRow.count(), 1);
  // The first key's secret is shown once: not after a reload.
  assert.equal(await page.getByTestId("secret").count(), 0);

  // API keys: create one (its secret works), cancel a revocation, then revoke it (it stops working).
  // Meanwhile a login in another tab replaced the session cookie: the page's CSRF token is stale.
  const otherTab = await page.request.post(`${base}/v1/auth/login`, { data: { email, password } });
  assert.equal(otherTab.status(), 200);
  await page.getByRole("link", { name: "API keys" }).click();
  await heading(page, "API keys").waitFor();
  await page.getByLabel("Name").fill("ci");
  await page.getByRole("button", { name: "Create key" }).click();
  const secretText = page.getByTestId("secret");
  await secretText.waitFor();
  const secret = (await secretText.textContent()) ?? "";
  assert.match(secret, /^vt_/);
  assert.notEqual(secret, firstKey);
  const keyRows = page.getByTestId("api-keys").getByRole("row");
  const ciRow = keyRows.filter({ has: page.getByRole("cell", { name: "ci", exact: true }) });
  await ciRow.waitFor();
  assert.equal(await keyRows.count(), 2);
  assert.equal((await fetch(`${base}/v1/billing/balance`, { headers: bearer(secret) })).status, 200);

  const revoke = page.getByRole("button", { name: "Revoke ci" });
  const dialog = page.getByRole("dialog", { name: "Revoke this API key?" });
  await revoke.click();
  await dialog.waitFor();
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  assert.equal(await keyRows.count(), 2);
  await revoke.click();
  await dialog.getByRole("button", { name: "Revoke key" }).click();
  await ciRow.waitFor({ state: "detached", timeout: TIMEOUT_MS });
  await page.getByText("The key “ci” is revoked.").waitFor();
  assert.equal(await secretText.count(), 0, "the revoked key's secret is no longer shown");
  assert.equal(await keyRows.count(), 1);
  assert.equal((await fetch(`${base}/v1/billing/balance`, { headers: bearer(secret) })).status, 401);
  await page.reload();
  await keyRows.first().waitFor();
  assert.equal(await keyRows.count(), 1);

  // Log out; a wrong password is answered next to the form; the right one logs back in.
  await page.getByRole("button", { name: "Log out" }).click();
  await heading(page, "Log in").waitFor();
  await page.getByText("You are logged out.").waitFor();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expectText(page.getByRole("alert"), "The email or password is incorrect");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await heading(page, "Billing").waitFor();

  // Buy credits: an amount out of range is refused beside the form; a valid one goes to Stripe
  // Checkout. The stand-in page pays: Stripe's signed webhook, then back to the success URL.
  await page.route("https://checkout.stripe.com/**", async (route) => {
    const sessionId = new URL(route.request().url()).pathname.split("/").pop() ?? "";
    const delivery = stripe.sign(stripe.completedEvent(sessionId));
    const webhook = await fetch(`${base}/v1/billing/webhook`, {
      method: "POST",
      body: delivery.payload,
      headers: delivery.headers,
    });
    assert.equal(webhook.status, 200, await webhook.text());
    await route.fulfill({ status: 303, headers: { location: stripe.sessions.get(sessionId)!.success_url } });
  });
  const buy = page.locator("form").filter({ hasText: "Amount in US dollars" });
  await page.getByLabel("Amount in US dollars").fill("2");
  await page.getByRole("button", { name: "Continue to payment" }).click();
  await expectText(buy.getByRole("alert"), /from \$5\.00 to \$10,000\.00/);
  await page.getByLabel("Amount in US dollars").fill("10.50");
  await page.getByRole("button", { name: "Continue to payment" }).click();
  await expectText(
    page.getByRole("status").filter({ hasText: "credits added" }),
    "$10.50 of credits added. Thank you!",
  );
  await expectText(page.getByTestId("available"), "$35.50");
  await expectText(
    page.getByTestId("transactions").getByRole("row").first().getByRole("cell").nth(2),
    "+$10.50",
  );
  assert.equal(new URL(page.url()).search, "", "the checkout outcome is removed from the address");
  assert.equal(stripe.requests.length, 1);

  // A training job created with the first API key shows in the list and on its own page.
  const upload = async (purpose: string, filename: string, path: string) => {
    const content = readFileSync(new URL(`../worker-runtime/fixtures/${path}`, import.meta.url));
    const { payload, headers } = await multipartBody([
      ["purpose", purpose],
      ["file", content, filename],
    ]);
    const res = await fetch(`${base}/v1/files`, {
      method: "POST",
      body: payload,
      headers: { ...headers, ...bearer(firstKey) },
    });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  };
  const spec = JSON.parse(
    readFileSync(new URL("../worker-runtime/fixtures/mlp.spec.json", import.meta.url), "utf8"),
  );
  const created = await fetch(`${base}/v1/training-jobs`, {
    method: "POST",
    headers: { ...bearer(firstKey), "content-type": "application/json" },
    body: JSON.stringify({
      model: await upload("model", "mlp.onnx", "mlp.onnx"),
      dataset: await upload("dataset", "digits.safetensors", "data/digits.safetensors"),
      spec,
      verification: "basic",
    }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const job = (await created.json()) as {
    id: string;
    total_steps: number;
    price: { quoted_cents: number };
  };
  const price = `$${(job.price.quoted_cents / 100).toFixed(2)}`;

  await page.getByRole("link", { name: "Training jobs" }).click();
  await heading(page, "Training jobs").waitFor();
  const jobRow = page.getByTestId("jobs").getByRole("row").filter({ hasText: job.id });
  await expectText(jobRow.getByRole("cell").nth(1), "queued");
  await expectText(jobRow.getByRole("cell").nth(2), `0 / ${job.total_steps}`);
  await expectText(jobRow.getByRole("cell").nth(3), `${price} quoted`);
  await jobRow.getByRole("link", { name: job.id }).click();
  await heading(page, `Training job ${job.id}`).waitFor();
  await expectText(page.getByTestId("job-status"), "queued");
  await page.getByText(`0 of ${job.total_steps} steps`).waitFor();
  await page.getByTestId("job-events").getByRole("row").filter({ hasText: "job.created" }).waitFor();
  // The results appear only for a job that succeeded.
  assert.equal(await page.getByRole("link", { name: /trained model/ }).count(), 0);
  // Its reservation shows on the billing page.
  await page.getByRole("link", { name: "Billing" }).click();
  await expectText(page.getByTestId("reserved"), price);

  assert.deepEqual(problems, []);
  await context.close();
});

test("on a stack without Stripe, Buy credits goes to the local test payment page and back", {
  skip,
}, async () => {
  const local = await createTestApp();
  try {
    const origin = await local.app.listen({ port: 0, host: "127.0.0.1" });
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = watch(page, origin);
    await signUpInPortal(page, origin, `local-pay-${Date.now()}@example.com`, "correct horse battery");
    const buy = async () => {
      await page.getByLabel("Amount in US dollars").fill("12");
      await page.getByRole("button", { name: "Continue to payment" }).click();
      await heading(page, "Pay $12.00").waitFor({ timeout: TIMEOUT_MS });
      assert.match(new URL(page.url()).pathname, /^\/v1\/billing\/local-checkout\/cs_local_/);
      await page.getByText("Test payment — no card is charged.").waitFor();
    };

    await buy();
    await page.getByRole("button", { name: "Cancel" }).click();
    await expectText(page.getByRole("status"), "Checkout was cancelled: nothing was charged.");
    await expectText(page.getByTestId("available"), "$0.00");

    await buy();
    await page.getByRole("button", { name: "Pay $12.00" }).click();
    await expectText(page.getByRole("status"), "$12.00 of credits added. Thank you!");
    await expectText(page.getByTestId("available"), "$12.00");
    await expectText(
      page.getByTestId("transactions").getByRole("row").first().getByRole("cell").nth(2),
      "+$12.00",
    );
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await local.close();
  }
});
