// The web portal in a real browser (Debian's Chromium driven by playwright-core) against the real
// app listening on a free port: sign up, balance, top-ups (the ledger directly, then Stripe
// Checkout through the Stripe stand-in), API keys, log out and in, training jobs. Then, on a stack
// that trains (the dev chain, a worker and a verifier): a job created from uploads after its
// quote, watched to its end with its loss chart and timeline, another cancelled, webhook
// endpoints and their deliveries, usage by month and payments. With PORTAL_SCREENSHOTS=DIR set
// (`npm run docs:screenshots`), the main views are saved there as PNGs.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { createTestApp, type TestApp } from "./support/app.ts";
import { type StripeStandIn, startStripeStandIn } from "./support/stripe-stand-in.ts";
import { startTrainingStack, type TrainingStack } from "./support/training-stack.ts";
import { multipartBody } from "./support/uploads.ts";
import { Receiver } from "./support/webhook-receiver.ts";

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing, so the portal's browser test cannot run: install it with \`apt-get install -y chromium\``;
/** Waits for the page, not for time: generous, since the machine's two cores are shared. */
const TIMEOUT_MS = 30_000;
/** Training, auditing and settling a short job on the test stack. */
const TRAINING_TIMEOUT_MS = 240_000;
const SCREENSHOTS = process.env.PORTAL_SCREENSHOTS;

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
  await page
    .getByTestId("timeline")
    .getByRole("listitem")
    .filter({ hasText: `Job created: ${job.total_steps} steps with basic verification, ${price} reserved` })
    .waitFor();
  await page.getByRole("button", { name: "Cancel the job" }).waitFor();
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

describe("on a stack that trains", { skip }, () => {
  const fixtures = new URL("../worker-runtime/fixtures/", import.meta.url).pathname;
  const fixtureSpec = JSON.parse(readFileSync(join(fixtures, "mlp.spec.json"), "utf8"));
  const { epochs: _epochs, ...baseSpec } = fixtureSpec;
  let stack: TrainingStack;
  let origin: string;
  let receiver: Receiver;
  let receiverUrl: string;
  /** Closed before the stack stops: an open event stream would keep the API from closing. */
  let context: BrowserContext | undefined;

  before(async () => {
    stack = await startTrainingStack();
    origin = stack.api.url;
    receiver = new Receiver();
    receiverUrl = await receiver.listen();
  });
  after(async () => {
    await context?.close();
    receiver?.close();
    await stack?.stop();
  });

  /** Saves the page as docs' screenshot `name` when PORTAL_SCREENSHOTS names a directory. */
  async function screenshot(page: Page, name: string) {
    if (!SCREENSHOTS) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  /** Fills the new-job form with the MLP fixture and `spec`, and asks for the quote. */
  async function quoteInPortal(
    page: Page,
    spec: Record<string, unknown>,
    start?: { job: string; step: string },
  ) {
    await page.getByRole("link", { name: "Training jobs", exact: true }).click();
    await page.getByRole("link", { name: "New training job" }).click();
    await heading(page, "New training job").waitFor();
    await page.getByLabel("Model (ONNX)").setInputFiles(join(fixtures, "mlp.onnx"));
    await page.getByLabel("Dataset").setInputFiles(join(fixtures, "data/digits.safetensors"));
    await page.getByLabel("Verification").selectOption("basic");
    await page.getByLabel("Training spec (JSON)").fill(JSON.stringify(spec, null, 2));
    if (start) {
      const choice = page.getByLabel("Start from").locator(`option[value="${start.job}"]`);
      await choice.waitFor({ state: "attached", timeout: TIMEOUT_MS });
      await page.getByLabel("Start from").selectOption(start.job);
      await page.getByLabel("Checkpoint step").fill(start.step);
    }
    await page.getByRole("button", { name: "Get a quote" }).click();
    const total = page.getByTestId("quote-total");
    await total.waitFor({ timeout: TIMEOUT_MS });
    return { total: (await total.textContent()) ?? "", quote: page.getByTestId("quote") };
  }

  interface JobJson {
    id: string;
    status: string;
    model: string;
    dataset: string;
    price: { reserved_cents: number; charged_cents: number | null };
  }

  interface Quote {
    train_samples: number;
    checkpoints: number;
    price: { compute_cents: number; verification_cents: number; platform_fee_cents: number };
    audit: { segments: number; audited_segments: number; detection_probability: number };
  }
  const dollars = (cents: number) => `$${(cents / 100).toFixed(2)}`;

  const jobHeading = (page: Page) => page.getByRole("heading", { level: 1, name: /^Training job job_/ });

  const jobOf = async (page: Page, id: string) =>
    (await (await page.request.get(`${origin}/v1/training-jobs/${id}`)).json()) as JobJson;

  test("the portal creates a job from uploads after its quote, watches it train and verify, and cancels another", async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems = watch(page, origin);
    await signUpInPortal(page, origin, `trainer-${Date.now()}@example.com`, "correct horse battery");

    // Credits through the stack's own test payment page: a card payment in the payments list.
    await page.getByLabel("Amount in US dollars").fill("20");
    await page.getByRole("button", { name: "Continue to payment" }).click();
    await page.getByRole("button", { name: "Pay $20.00" }).click();
    await expectText(page.getByTestId("available"), "$20.00");

    // A spec that is not JSON is answered beside the form, and nothing is uploaded.
    await page.getByRole("link", { name: "Training jobs", exact: true }).click();
    await page.getByRole("link", { name: "New training job" }).click();
    // The spec field starts with the example the API documents: the fixture's own spec.
    const specField = page.getByLabel("Training spec (JSON)");
    for (let i = 0; i < 100 && (await specField.inputValue()) === ""; i++) await sleep(50);
    assert.deepEqual(JSON.parse(await specField.inputValue()), fixtureSpec);
    await specField.fill("{ not json");
    await page.getByLabel("Model (ONNX)").setInputFiles(join(fixtures, "mlp.onnx"));
    await page.getByLabel("Dataset").setInputFiles(join(fixtures, "data/digits.safetensors"));
    await page.getByRole("button", { name: "Get a quote" }).click();
    await expectText(
      page.getByRole("alert").filter({ hasText: "JSON" }),
      /^The training spec is not valid JSON/,
    );
    assert.equal(await page.getByLabel("Training spec (JSON)").getAttribute("aria-invalid"), "true");
    // A spec the API refuses names what is wrong, and no quote is shown.
    await page.getByLabel("Training spec (JSON)").fill(JSON.stringify({ ...baseSpec, batch_size: 0 }));
    await page.getByRole("button", { name: "Get a quote" }).click();
    await expectText(page.getByRole("alert").filter({ hasText: "batch_size" }), /batch_size/);
    assert.equal(await page.getByTestId("quote-total").isVisible(), false);

    // The quote: price, steps, checkpoints and audits, before anything is reserved.
    const spec = { ...baseSpec, max_steps: 900, checkpoint_every: 300 };
    const { total, quote } = await quoteInPortal(page, spec);
    assert.match(total, /^\$\d+\.\d\d$/);
    const shown = await quote.locator("dd").allTextContents();
    await screenshot(page, "portal-new-job");
    await page.getByRole("button", { name: `Create the job for ${total}` }).click();

    // The job's page follows it to the end: steps, the loss chart, the timeline in plain words.
    await jobHeading(page).waitFor({ timeout: TIMEOUT_MS });
    const jobId = decodeURIComponent(new URL(page.url()).hash.replace("#/jobs/", ""));
    const created = await jobOf(page, jobId);
    assert.equal(dollars(created.price.reserved_cents), total, "the reservation is the quote");
    // What the portal showed is the API's quote for the same files and spec.
    const { csrf_token } = await (await page.request.get(`${origin}/v1/auth/session`)).json();
    const apiQuote = (await (
      await page.request.post(`${origin}/v1/training-jobs/quote`, {
        headers: { "x-csrf-token": csrf_token },
        data: { model: created.model, dataset: created.dataset, spec, verification: "basic" },
      })
    ).json()) as Quote;
    assert.deepEqual(shown, [
      dollars(apiQuote.price.compute_cents),
      dollars(apiQuote.price.verification_cents),
      dollars(apiQuote.price.platform_fee_cents),
      `900 over ${apiQuote.train_samples} training samples`,
      String(apiQuote.checkpoints),
      `${apiQuote.audit.audited_segments} of ${apiQuote.audit.segments} segments replayed by verifiers; a worker faking 10% of its work is caught with probability ${(apiQuote.audit.detection_probability * 100).toFixed(2)}%`,
      shown[6],
    ]);
    assert.match(shown[6] ?? "", /^\d+\.\d [MGTP]?FLOP$/);
    await page
      .getByTestId("job-status")
      .filter({ hasText: "succeeded" })
      .waitFor({ timeout: TRAINING_TIMEOUT_MS })
      .catch(async (error: unknown) => {
        throw new Error(`${error}\n${JSON.stringify(await jobOf(page, jobId))}\n${stack.logs()}`);
      });
    await expectText(page.getByTestId("job-steps"), "900 of 900 steps");
    const timeline = page.getByTestId("timeline");
    for (const line of [
      /Job created: 900 steps with basic verification/,
      /A worker \(5\w{3}…\w{4}\) was assigned/,
      /Training started/,
      /Checkpoint saved at step 300\./,
      /Training finished after 20 epochs: validation loss \d\.\d{4}, accuracy \d+\.\d%\. The worker committed to its 4 checkpoints/,
      /1 segment was drawn at random for a verifier to replay/,
      /A verifier \(5\w{3}…\w{4}\) replayed steps \d+ to \d+ and got the same result\./,
      /Verification closed: 1 audit passed\./,
      /Succeeded\. Charged \$\d+\.\d\d; \$\d+\.\d\d returned to your balance\./,
    ]) {
      await timeline
        .getByRole("listitem")
        .filter({ hasText: line })
        .first()
        .waitFor({ timeout: TIMEOUT_MS })
        .catch(async (error: unknown) => {
          throw new Error(`${error}\nthe timeline says:\n${(await timeline.textContent())?.trim()}`);
        });
    }
    const told = (await timeline.textContent()) ?? "";
    assert.doesNotMatch(
      told,
      /\bVT\b|planck|chain_task|block/i,
      "no tokens or chain internals in the timeline",
    );
    assert.match(
      (await page.getByTestId("loss-summary").textContent()) ?? "",
      /^Training loss \S+ at step \d+, \S+ at step \d+\. Validation loss \S+ after step \d+\.$/,
    );
    // The line has a point per epoch at least (the progress reports add more), a dot per epoch.
    assert.ok(Number(await page.locator(".loss-chart polyline").getAttribute("data-points")) >= 20);
    assert.equal(await page.locator(".loss-chart circle").count(), 20, "one validation point per epoch");
    await page.getByRole("link", { name: "Download the trained model (ONNX)" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Cancel the job" }).isVisible(), false);
    const finished = await jobOf(page, jobId);
    assert.equal(finished.status, "succeeded");
    await screenshot(page, "portal-job");

    // Another job, started from the first one's checkpoint at step 300, cancelled from its page:
    // nothing charged beyond the steps done, the rest released.
    const second = await quoteInPortal(
      page,
      { ...baseSpec, max_steps: 200_000, checkpoint_every: 50_000 },
      { job: jobId, step: "300" },
    );
    assert.match(
      (await second.quote.locator("dd").last().textContent()) ?? "",
      new RegExp(`^the weights of ${jobId} at step 300$`),
    );
    await page.getByRole("button", { name: `Create the job for ${second.total}` }).click();
    await jobHeading(page).waitFor({ timeout: TIMEOUT_MS });
    const secondId = decodeURIComponent(new URL(page.url()).hash.replace("#/jobs/", ""));
    assert.notEqual(secondId, jobId);
    const started = (await (await page.request.get(`${origin}/v1/training-jobs/${secondId}`)).json()) as {
      init_from: { job: string; step: number } | null;
    };
    assert.deepEqual([started.init_from?.job, started.init_from?.step], [jobId, 300]);
    await expectText(page.getByTestId("init-from"), `the checkpoint at step 300 of ${jobId}`);
    // Cancelling asks first: keeping the job changes nothing, confirming cancels it.
    const confirmCancel = page.getByRole("dialog", { name: "Cancel this job?" });
    await page.getByRole("button", { name: "Cancel the job" }).click();
    await confirmCancel.getByRole("button", { name: "Keep it running" }).click();
    await confirmCancel.waitFor({ state: "hidden" });
    assert.notEqual((await jobOf(page, secondId)).status, "cancelled");
    await page.getByRole("button", { name: "Cancel the job" }).click();
    await confirmCancel.getByRole("button", { name: "Cancel the job" }).click();
    await expectText(page.getByTestId("job-status"), "cancelled");
    await timeline
      .getByRole("listitem")
      .filter({ hasText: /Cancelled.*returned to your balance\./ })
      .waitFor()
      .catch(async (error: unknown) => {
        const alerts = await page.getByRole("alert").allTextContents();
        throw new Error(
          `${error}\nthe timeline says:\n${(await timeline.textContent())?.trim()}\nalerts: ${alerts.join(" | ")}`,
        );
      });
    assert.equal(await page.getByRole("button", { name: "Cancel the job" }).isVisible(), false);
    assert.equal((await jobOf(page, secondId)).status, "cancelled");

    // The list shows both.
    await page.getByRole("link", { name: "Training jobs", exact: true }).click();
    const rows = page.getByTestId("jobs").getByRole("row");
    await expectText(rows.filter({ hasText: jobId }).getByRole("cell").nth(1), "succeeded");
    await expectText(rows.filter({ hasText: secondId }).getByRole("cell").nth(1), "cancelled");
    await screenshot(page, "portal-jobs");

    // Usage by month sums the ledger; the payment is listed as paid.
    const charged = finished.price.charged_cents! + ((await jobOf(page, secondId)).price.charged_cents ?? 0);
    await page.getByRole("link", { name: "Usage", exact: true }).click();
    await heading(page, "Usage and payments").waitFor();
    const month = page.getByTestId("usage-months").getByRole("row").first();
    await expectText(month.getByRole("cell").nth(0), "$20.00");
    await expectText(month.getByRole("cell").nth(1), dollars(charged));
    await expectText(month.getByRole("cell").nth(2), "2");
    const payment = page.getByTestId("payments").getByRole("row").first();
    await expectText(payment.getByRole("cell").nth(1), "$20.00");
    await expectText(payment.getByRole("cell").nth(2), "paid");
    // Its receipt: the stack's own payment page, now a receipt of the $20.00 paid.
    const receiptLink = payment.getByRole("link", { name: "Receipt for the payment of $20.00" });
    const receipt = await page.request.get((await receiptLink.getAttribute("href")) ?? "");
    assert.equal(receipt.status(), 200);
    assert.match(await receipt.text(), /<h1 id="title">Receipt<\/h1>[\s\S]*\$20\.00/);
    await screenshot(page, "portal-usage");

    // Webhooks: add an endpoint (its secret shown once), send a test event that verifies with the
    // secret, read the delivery log, rotate the secret, delete after confirming.
    await page.getByRole("link", { name: "Webhooks", exact: true }).click();
    await heading(page, "Webhooks").waitFor();
    await page.getByText("No webhook endpoints yet.").waitFor();
    await page.getByLabel("URL").fill(receiverUrl);
    await page.getByLabel("Description").fill("CI notifications");
    await page.getByLabel("A training job was cancelled").uncheck();
    await page.getByRole("button", { name: "Add endpoint" }).click();
    const secret = (await page.getByTestId("secret").textContent()) ?? "";
    assert.match(secret, /^whsec_/);
    const endpointRow = page
      .getByTestId("webhook-endpoints")
      .getByRole("row")
      .filter({ hasText: receiverUrl });
    await expectText(
      endpointRow.getByRole("cell").nth(1),
      "training_job.succeeded, training_job.failed, training_job.verification_completed, billing.credits_added",
    );
    await page.getByRole("button", { name: `Send a test event to ${receiverUrl}` }).click();
    const [delivered] = await receiver.waitFor(1, TIMEOUT_MS);
    const verified = new Webhook(secret).verify(
      delivered!.body,
      delivered!.headers as Record<string, string>,
    );
    assert.equal((verified as { type: string }).type, "webhook.test");
    const deliveryRows = page.getByTestId("webhook-deliveries").getByRole("row");
    for (let i = 0; i < 50 && (await deliveryRows.filter({ hasText: "succeeded" }).count()) === 0; i++) {
      await page.getByRole("button", { name: `Deliveries to ${receiverUrl}` }).click();
      await sleep(200);
    }
    await expectText(deliveryRows.first().getByRole("cell").nth(1), "webhook.test");
    await expectText(deliveryRows.first().getByRole("cell").nth(2), "succeeded");
    await expectText(deliveryRows.first().getByRole("cell").nth(4), "HTTP 200");
    await screenshot(page, "portal-webhooks");

    await page.getByRole("button", { name: `Rotate the secret of ${receiverUrl}` }).click();
    await page.getByText(/The new signing secret of/).waitFor();
    const rotated = (await page.getByTestId("secret").textContent()) ?? "";
    assert.match(rotated, /^whsec_/);
    assert.notEqual(rotated, secret);

    const dialog = page.getByRole("dialog", { name: "Delete this endpoint?" });
    await page.getByRole("button", { name: `Delete ${receiverUrl}` }).click();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    assert.equal(await endpointRow.count(), 1);
    await page.getByRole("button", { name: `Delete ${receiverUrl}` }).click();
    await dialog.getByRole("button", { name: "Delete endpoint" }).click();
    await endpointRow.waitFor({ state: "detached", timeout: TIMEOUT_MS });
    await page.getByText("No webhook endpoints yet.").waitFor();
    const listed = await (await page.request.get(`${origin}/v1/webhook-endpoints`)).json();
    assert.deepEqual(listed.data, []);

    assert.deepEqual(problems, []);
    await context.close();
  });
});
