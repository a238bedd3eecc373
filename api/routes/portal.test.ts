// The portal's files over HTTP, as a browser fetches them from the real app: types, security and
// caching headers, and nothing served but the portal's own files.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { CHECKOUT_MAX_CENTS, CHECKOUT_MIN_CENTS } from "../services/billing.ts";
import { WEBHOOK_EVENT_TYPES } from "../services/webhooks/events.ts";
import { PORTAL_CSP, PORTAL_DIR } from "./portal.ts";

let t: TestApp;

before(async () => {
  t = await createTestApp();
});
after(() => t.close());

const get = (url: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: "GET", url, headers });
const portalFile = (path: string) => readFileSync(`${PORTAL_DIR}${path}`, "utf8");

function assertPortalHeaders(headers: Record<string, unknown>) {
  assert.equal(headers["content-security-policy"], PORTAL_CSP);
  assert.equal(headers["cache-control"], "no-cache");
  assert.equal(headers["x-content-type-options"], "nosniff");
  assert.equal(headers["x-frame-options"], "DENY");
  assert.match(String(headers.etag), /^"[\w-]{27}"$/);
}

test("/portal/ and /portal serve index.html as HTML with the portal's headers", async () => {
  for (const url of ["/portal/", "/portal", "/portal/?checkout=success"]) {
    const res = await get(url);
    assert.equal(res.statusCode, 200, url);
    assert.equal(res.headers["content-type"], "text/html; charset=utf-8", url);
    assertPortalHeaders(res.headers);
    assert.equal(res.body, portalFile("index.html"), url);
  }
});

test("the CSP allows same-origin scripts and styles only, and nothing inline", () => {
  const directives = new Map(
    PORTAL_CSP.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1)] as const),
  );
  assert.deepEqual(directives.get("default-src"), ["'none'"]);
  assert.deepEqual(directives.get("script-src"), ["'self'"]);
  assert.deepEqual(directives.get("style-src"), ["'self'"]);
  assert.deepEqual(directives.get("frame-ancestors"), ["'none'"]);
  // The markup must not depend on what the policy forbids.
  const html = portalFile("index.html");
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, "an inline script");
  assert.doesNotMatch(html, /<style/, "an inline style sheet");
  assert.doesNotMatch(html, /\sstyle=/, "a style attribute");
  assert.doesNotMatch(html, /\son[a-z]+=/, "an inline event handler");
});

test("scripts, style sheet and icon are served with their content types", async () => {
  const expected: Array<[string, string]> = [
    ["app.js", "text/javascript; charset=utf-8"],
    ["views/billing.js", "text/javascript; charset=utf-8"],
    ["styles.css", "text/css; charset=utf-8"],
    ["favicon.svg", "image/svg+xml"],
  ];
  for (const [path, type] of expected) {
    const res = await get(`/portal/${path}`);
    assert.equal(res.statusCode, 200, path);
    assert.equal(res.headers["content-type"], type, path);
    assertPortalHeaders(res.headers);
    assert.equal(res.body, portalFile(path), path);
  }
});

test("HEAD answers like GET without a body", async () => {
  const res = await t.app.inject({ method: "HEAD", url: "/portal/app.js" });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers["content-type"], "text/javascript; charset=utf-8");
  assert.equal(res.body, "");
});

test("a revalidation naming the current ETag is a 304 without a body; a stale one gets the file", async () => {
  const first = await get("/portal/styles.css");
  const etag = String(first.headers.etag);
  for (const ifNoneMatch of [etag, `"older", W/${etag}`, "*"]) {
    const again = await get("/portal/styles.css", { "if-none-match": ifNoneMatch });
    assert.equal(again.statusCode, 304, ifNoneMatch);
    assert.equal(again.body, "");
    assert.equal(again.headers.etag, etag);
  }
  const stale = await get("/portal/styles.css", { "if-none-match": '"an-older-version"' });
  assert.equal(stale.statusCode, 200);
  assert.equal(stale.body, first.body);
});

test("every asset the portal references is served", async () => {
  const html = portalFile("index.html");
  const referenced = [...html.matchAll(/(?:src|href)="\/portal\/([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(referenced.includes("app.js") && referenced.includes("styles.css"), referenced.join());
  const modules = readdirSync(PORTAL_DIR, { recursive: true, encoding: "utf8" }).filter((f) =>
    f.endsWith(".js"),
  );
  for (const module of modules) {
    const dir = module.includes("/") ? module.slice(0, module.lastIndexOf("/") + 1) : "";
    for (const [, specifier] of portalFile(module).matchAll(/from "(\.{1,2}\/[^"]+)"/g)) {
      referenced.push(new URL(specifier!, `http://x/${dir}`).pathname.slice(1));
    }
  }
  for (const path of new Set(referenced)) {
    assert.equal((await get(`/portal/${path}`)).statusCode, 200, path);
  }
});

test("paths that leave the portal folder are 404, however they are spelled", async () => {
  for (const url of [
    "/portal/../package.json",
    "/portal/%2e%2e/package.json",
    "/portal/..%2fpackage.json",
    "/portal/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/portal/views/../../package.json",
    "/portal//etc/passwd",
    "/portal/..\\package.json",
    "/portal/%00",
  ]) {
    const res = await get(url);
    expectApiError(res, 404, "route_not_found");
    assert.doesNotMatch(res.body, /"name": "veritrain"|root:/, url);
  }
});

test("unknown assets, and files in the folder that are not the portal's, are 404", async () => {
  for (const url of ["/portal/nope.js", "/portal/views/", "/portal/tsconfig.json", "/portal/app.js/x"]) {
    expectApiError(await get(url), 404, "route_not_found");
  }
});

test("the portal stays out of the OpenAPI document", async () => {
  const document = (await get("/openapi.json")).json<{ paths: Record<string, unknown> }>();
  assert.ok(Object.keys(document.paths).length > 0);
  assert.deepEqual(
    Object.keys(document.paths).filter((path) => path.startsWith("/portal")),
    [],
  );
});

interface MoneyModule {
  CHECKOUT_MIN_CENTS: number;
  CHECKOUT_MAX_CENTS: number;
  formatCents(cents: number): string;
  formatCentsChange(cents: number): string;
  parseDollars(text: string): number | null;
}
// A URL, not a literal specifier: the portal's modules are plain JavaScript outside this project.
const money = (await import(new URL("../../portal/money.js", import.meta.url).href)) as MoneyModule;

test("the portal's checkout limits are the API's", () => {
  assert.equal(money.CHECKOUT_MIN_CENTS, CHECKOUT_MIN_CENTS);
  assert.equal(money.CHECKOUT_MAX_CENTS, CHECKOUT_MAX_CENTS);
});

test("the portal reads dollars into integer cents and formats cents as dollars", () => {
  const read: Array<[string, number | null]> = [
    ["25", 2500],
    ["25.5", 2550],
    ["$1,000.05", 100005],
    [" 0.29 ", 29],
    ["10000", 1000000],
    ["1,00", null],
    ["25.505", null],
    ["-5", null],
    ["", null],
    ["5e3", null],
  ];
  for (const [text, cents] of read) assert.equal(money.parseDollars(text), cents, JSON.stringify(text));
  assert.equal(money.formatCents(0), "$0.00");
  assert.equal(money.formatCents(123456), "$1,234.56");
  assert.equal(money.formatCentsChange(2500), "+$25.00");
  assert.equal(money.formatCentsChange(-500), "-$5.00");
  assert.equal(money.formatCentsChange(0), "$0.00");
});

interface WebhookEventsModule {
  WEBHOOK_EVENTS: ReadonlyArray<{ type: string; label: string }>;
}
const webhookEvents = (await import(
  new URL("../../portal/webhook-events.js", import.meta.url).href
)) as WebhookEventsModule;

test("the portal offers exactly the webhook events the API accepts", () => {
  assert.deepEqual(
    webhookEvents.WEBHOOK_EVENTS.map((event) => event.type),
    [...WEBHOOK_EVENT_TYPES],
  );
});

interface MonthlyUsageModule {
  monthlyUsage(
    transactions: Array<{
      type: string;
      available_change_cents: number;
      reserved_change_cents: number;
      created_at: string;
    }>,
  ): Array<{
    month: string;
    bought_cents: number;
    training_cents: number;
    taken_back_cents: number;
    jobs: number;
  }>;
  monthName(month: string): string;
}
const usage = (await import(
  new URL("../../portal/monthly-usage.js", import.meta.url).href
)) as MonthlyUsageModule;

test("usage by month: bought, charged for training, taken back; reservations cancel out", () => {
  const txn = (type: string, available: number, reserved: number, created_at: string) => ({
    type,
    available_change_cents: available,
    reserved_change_cents: reserved,
    created_at,
  });
  const months = usage.monthlyUsage([
    txn("top_up", 5000, 0, "2026-11-03T10:00:00.000Z"),
    txn("reservation", -300, 300, "2026-11-03T11:00:00.000Z"),
    // Charged 120 of the 300 reserved: 180 back to available.
    txn("charge", 180, -300, "2026-11-30T23:59:59.999Z"),
    txn("reservation", -200, 200, "2026-12-01T00:00:00.000Z"),
    txn("release", 200, -200, "2026-12-01T00:05:00.000Z"),
    txn("charge", 0, 0, "2026-12-01T00:05:00.000Z"),
    txn("refund", -1000, 0, "2026-12-02T00:00:00.000Z"),
    txn("dispute", -500, 0, "2026-12-03T00:00:00.000Z"),
    txn("top_up", 2500, 0, "2026-12-04T00:00:00.000Z"),
  ]);
  assert.deepEqual(months, [
    { month: "2026-12", bought_cents: 2500, training_cents: 0, taken_back_cents: 1500, jobs: 1 },
    { month: "2026-11", bought_cents: 5000, training_cents: 120, taken_back_cents: 0, jobs: 1 },
  ]);
  assert.deepEqual(usage.monthlyUsage([]), []);
  assert.equal(usage.monthName("2026-12"), "December 2026");
  assert.equal(usage.monthName("2027-01"), "January 2027");
});

interface TimelineModule {
  describeEvent(event: { type: string; data: Record<string, unknown> }): string | null;
}
const timeline = (await import(
  new URL("../../portal/job-timeline.js", import.meta.url).href
)) as TimelineModule;

test("the job timeline tells every event in plain words, in dollars, without tokens or chain internals", () => {
  const worker = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
  const epoch = {
    epoch: 2,
    last_step: 135,
    train_samples: 1440,
    train_loss: 0.25,
    train_accuracy: 0.9,
    val_loss: 0.3,
    val_accuracy: 0.875,
    steps_per_second: 40,
  };
  const told: Array<[string, Record<string, unknown>, string | null]> = [
    [
      "job.created",
      { total_steps: 900, price_cents: 25, verification: "basic" },
      "Job created: 900 steps with basic verification, $0.25 reserved from your balance.",
    ],
    [
      "job.waiting",
      { reason: "compute.create_task failed: NoWorkerAvailable" },
      "Waiting for a free worker: the network is busy. The job keeps its place in line.",
    ],
    [
      "job.dispatched",
      { worker, chain_task_id: "7", block_number: 12 },
      "A worker (5FHn…94ty) was assigned and the payment for the work was put in escrow.",
    ],
    ["training.started", { worker }, "Training started on worker 5FHn…94ty."],
    ["training.progress", { step: 10, total_steps: 900, loss: 1.2 }, null],
    [
      "training.epoch",
      epoch,
      "Epoch 3 done at step 135: training loss 0.2500, validation loss 0.3000, accuracy 87.5%.",
    ],
    ["checkpoint.stored", { step: 300, sha256: "ab".repeat(32) }, "Checkpoint saved at step 300."],
    [
      "training.evidence_refused",
      { worker, reason: "the checkpoint for step 20 is not canonical checkpoint bytes" },
      "The platform refused work that worker 5FHn…94ty sent: it was not a genuine state of this training run. None of it is kept.",
    ],
    [
      "training.abandoned",
      { worker, reason: "the worker gave up after its evidence was refused" },
      "Worker 5FHn…94ty gave up after its work was refused; another worker takes the job over once its deadline passes, at no extra cost to you.",
    ],
    [
      "training.reassigned",
      { worker, attempt: 2, reason: "worker 5Grw did not commit by block 80" },
      "The previous worker missed its deadline, so the job moved to another worker (5FHn…94ty), which resumes from the last checkpoint.",
    ],
    [
      "training.completed",
      {
        model_sha256: "cd".repeat(32),
        checkpoint_root: "ef".repeat(32),
        checkpoints: 4,
        metrics: { epochs: [epoch] },
      },
      "Training finished after 1 epoch: validation loss 0.3000, accuracy 87.5%. The worker committed to its 4 checkpoints; verification begins.",
    ],
    [
      "verification.audits_selected",
      { attempt: 1, round: 0, audits: [{ segment: 2, verifier: worker }], verdict_deadline_block: 90 },
      "1 segment was drawn at random for a verifier to replay: number 3 (a segment is the steps between two checkpoints).",
    ],
    [
      "verification.verdict",
      { verifier: worker, from_step: 600, to_step: 900, agrees: true },
      "A verifier (5FHn…94ty) replayed steps 600 to 900 and got the same result.",
    ],
    [
      "verification.verdict",
      { verifier: worker, from_step: 600, to_step: 900, agrees: false },
      "A verifier (5FHn…94ty) replayed steps 600 to 900 and disagrees: the dispute decides who is right.",
    ],
    ["verification.closed", { passed: 2 }, "Verification closed: 2 audits passed."],
    [
      "job.succeeded",
      { reason: null, charged_cents: 20, released_cents: 5 },
      "Succeeded. Charged $0.20; $0.05 returned to your balance.",
    ],
    [
      "job.failed",
      { reason: "the worker ran out of memory", charged_cents: 0, released_cents: 25 },
      "Failed: the worker ran out of memory. Charged $0.00; $0.25 returned to your balance.",
    ],
    [
      "job.cancelled",
      { reason: null, charged_cents: 3, released_cents: 22 },
      "Cancelled. Charged $0.03; $0.22 returned to your balance.",
    ],
    [
      "job.expired",
      { reason: "no worker in time", charged_cents: 0, released_cents: 25 },
      "No worker took the job in time, so it ended. $0.25 returned to your balance.",
    ],
  ];
  for (const [type, data, sentence] of told) {
    const said = timeline.describeEvent({ type, data });
    assert.equal(said, sentence, type);
    assert.doesNotMatch(said ?? "", /\bVT\b|planck|block|chain/i, type);
  }
  // An event type the portal does not know yet is still shown, by its name.
  assert.equal(timeline.describeEvent({ type: "job.renamed", data: {} }), "job.renamed");
});
