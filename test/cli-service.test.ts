// The service commands of the `veritrain` binary, run as a user runs them (a child process, the
// key kept by `login` in a config directory of the test's own) against a real API on a port:
// login, files, jobs (the price confirmation, --max-price, watch, create --wait), download with
// the receipt verified, receipt verify, sweeps, billing, webhooks (delivered to a local receiver).
// Jobs are ended by test/support/finished-jobs.ts as the network would end them, so no chain or
// node is started here.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Webhook } from "standardwebhooks";
import { PlatformKey } from "../api/services/platform-key.ts";
import type { QuoteRequest } from "../api/services/quotes.ts";
import { modelWeightsAsSafetensors } from "../protocol/model-weights.ts";
import { type SignedUp, signUp } from "./support/accounts.ts";
import { createTestApp, type TestApp } from "./support/app.ts";
import { failJob, recordEpoch, reportTraining, signedReceipt, succeedJob } from "./support/finished-jobs.ts";
import { Receiver } from "./support/webhook-receiver.ts";

const root = new URL("..", import.meta.url).pathname;
const fixtures = join(root, "worker-runtime/fixtures");
const MODEL = join(fixtures, "mlp.onnx");
const DATASET = join(fixtures, "data/digits.safetensors");
const SPEC = join(fixtures, "mlp.spec.json");

let t: TestApp;
let api: string;
let alice: SignedUp;
let home: string;

before(async () => {
  // With queues, so that webhook deliveries are sent; without a chain, no job is dispatched.
  t = await createTestApp({}, { queues: true });
  await t.services.webhookDeliveries!.start();
  api = await t.app.listen({ port: 0, host: "127.0.0.1" });
  alice = await signUp(t.app);
  await t.services.ledger.topUp(alice.organizationId, 10_000, "test:alice-credit");
  home = mkdtempSync(join(tmpdir(), "veritrain-cli-"));
});
/** CLI processes still running: a failed test must not leave them behind. */
const running = new Set<ChildProcess>();
after(async () => {
  for (const child of running) child.kill();
  await t.close();
  rmSync(home, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], options: { input?: string; env?: Record<string, string> } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: join(home, "config"), ...options.env };
  delete env.VERITRAIN_API_KEY;
  delete env.VERITRAIN_BASE_URL;
  Object.assign(env, options.env);
  const child: ChildProcess = spawn(process.execPath, [join(root, "bin/veritrain.mjs"), ...args], {
    cwd: home,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin!.end(options.input ?? "");
  running.add(child);
  const done = new Promise<Run>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

const cli = (args: string[], options: { input?: string; env?: Record<string, string> } = {}) =>
  start(args, options).done;

/** Runs with --json and parses stdout; the exit code must be `code`. */
async function json<T>(args: string[], code = 0, input?: string): Promise<T> {
  const run = await cli([...args, "--json"], input === undefined ? {} : { input });
  assert.equal(run.code, code, `${args.join(" ")}: ${run.stderr}\n${run.stdout}`);
  return JSON.parse(code === 0 ? run.stdout : run.stderr) as T;
}

interface ErrorJson {
  error: { type: string; code: string; message: string; checks?: Array<{ name: string; ok: boolean }> };
}

const configFile = () => join(home, "config", "veritrain", "config.json");

test("login refuses a key the API refuses, keeps a good one owner-only, and logout forgets it", async () => {
  const refused = await json<ErrorJson>(["login", "--api-key", "vt_not_a_key", "--base-url", api], 3);
  assert.equal(refused.error.code, "invalid_api_key");
  assert.equal(existsSync(configFile()), false, "a refused key is not stored");

  const signedOut = await json<ErrorJson>(["jobs", "list"], 3);
  assert.equal(signedOut.error.code, "not_logged_in");

  // The key can come from stdin, as a script pipes it or a person types it.
  const login = await cli(["login", "--base-url", api], { input: `${alice.apiKey}\n` });
  assert.equal(login.code, 0, login.stderr);
  assert.equal(statSync(configFile()).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(configFile(), "utf8")), { api_key: alice.apiKey, base_url: api });

  const bob = await signUp(t.app);
  const asBob = await cli(["billing", "balance", "--json"], { env: { VERITRAIN_API_KEY: bob.apiKey } });
  assert.deepEqual(
    JSON.parse(asBob.stdout),
    { available_cents: 0, reserved_cents: 0 },
    "the environment wins",
  );

  assert.equal((await cli(["logout"])).code, 0);
  assert.equal(existsSync(configFile()), false);
  await json(["login", "--api-key", alice.apiKey, "--base-url", api]);
});

test("files upload, list, get and delete", async () => {
  const uploaded = await json<{ id: string; purpose: string; sha256: string }>(["files", "upload", MODEL]);
  assert.equal(uploaded.purpose, "model");
  const listed = await json<{ data: Array<{ id: string }> }>(["files", "list", "--purpose", "model"]);
  assert.ok(listed.data.some((f) => f.id === uploaded.id));
  const human = await cli(["files", "get", uploaded.id]);
  assert.match(human.stdout, new RegExp(`${uploaded.id}\\s+model\\s+mlp\\.onnx`));
  assert.match(human.stdout, /opset \d+, \d+ parameters/);
  const deleted = await json<{ id: string; deleted_at: string }>(["files", "delete", uploaded.id]);
  assert.equal(deleted.id, uploaded.id);
  const gone = await json<ErrorJson>(["files", "get", uploaded.id], 1);
  assert.equal(gone.error.code, "resource_missing");
  const missing = await json<ErrorJson>(["files", "upload", join(home, "no-such.onnx")], 2);
  assert.equal(missing.error.code, "file_not_found");
});

interface Job {
  id: string;
  status: string;
  price: { reserved_cents: number };
}

async function jobCount(): Promise<number> {
  return (await t.services.jobs.list(alice.organizationId, 100)).data.length;
}

test("create shows the quote and asks: refused above --max-price, declined, or confirmed", async () => {
  const request = ["--model", MODEL, "--dataset", DATASET, "--spec", SPEC, "--verification", "basic"];
  const quote = await json<{ price: { total_cents: number } }>(["jobs", "quote", ...request]);
  assert.ok(quote.price.total_cents > 0);
  const before = await jobCount();

  const tooDear = await json<ErrorJson>(["jobs", "create", ...request, "--max-price", "0.01", "--yes"], 6);
  assert.equal(tooDear.error.code, "price_above_max");
  const declined = await cli(["jobs", "create", ...request], { input: "n\n" });
  assert.equal(declined.code, 6, declined.stderr);
  assert.match(declined.stderr, /price \$\d+\.\d\d/);
  assert.match(declined.stderr, /Create this job for \$\d+\.\d\d\? \[y\/N\]/);
  assert.equal(await jobCount(), before, "neither created a job");

  const confirmed = await json<Job>(["jobs", "create", ...request], 0, "y\n");
  assert.equal(confirmed.status, "queued");
  assert.equal(confirmed.price.reserved_cents, quote.price.total_cents);
  assert.equal(await jobCount(), before + 1);
  const cancelled = await json<Job>(["jobs", "cancel", confirmed.id]);
  assert.equal(cancelled.status, "cancelled");
});

test("create --init-from sends the checkpoint to start from; a malformed one is refused before any request", async () => {
  const request = [
    "--model",
    MODEL,
    "--dataset",
    DATASET,
    "--spec",
    SPEC,
    "--verification",
    "basic",
    "--yes",
  ];
  const before = await jobCount();
  const malformed = await json<ErrorJson>(["jobs", "create", ...request, "--init-from", "last-week"], 2);
  assert.equal(malformed.error.code, "init_from_invalid");
  assert.match(malformed.error.message, /job_\.\.\.@500/);
  const queued = await json<Job>(["jobs", "create", ...request]);
  // The API refuses a start from a job that has not succeeded: the flag reached it, job and step.
  const refused = await json<ErrorJson>(["jobs", "create", ...request, "--init-from", `${queued.id}@5`], 1);
  assert.equal(refused.error.code, "init_from_invalid");
  assert.match(refused.error.message, new RegExp(`job ${queued.id} is queued`));
  const sweep = await json<ErrorJson>(
    ["sweeps", "create", ...request, "--grid", "optimizer.lr=0.01,0.02", "--init-from", queued.id],
    1,
  );
  assert.equal(sweep.error.code, "init_from_invalid");
  assert.equal(await jobCount(), before + 1, "only the plain job was created");
  await json<Job>(["jobs", "cancel", queued.id]);
});

test("watch follows a job to its end with step, loss, learning rate and throughput, and exits 5 when it fails", async () => {
  const created = await json<Job>([
    "jobs",
    "create",
    "--model",
    MODEL,
    "--dataset",
    DATASET,
    "--spec",
    SPEC,
    "--yes",
  ]);
  await reportTraining(t, created.id, [10, 20], 90);
  await failJob(t, created.id, "worker_failed");
  const watched = await cli(["jobs", "watch", created.id]);
  assert.equal(watched.code, 5, watched.stderr);
  assert.match(watched.stderr, /step 20\/90 \| loss 0\.1000 \| lr 1\.00e-2 \| 42\.5 steps\/s \| training/);
  assert.match(
    watched.stderr,
    /epoch 0: train loss 0\.2500, accuracy 90\.0%; validation loss 0\.3000, accuracy 87\.5%/,
  );
  assert.match(
    watched.stderr,
    /job\.failed: worker_failed: the worker could not train the job on any attempt/,
  );
  assert.match(watched.stdout, new RegExp(`${created.id}\\s+failed`));
  const asJson = await cli(["jobs", "watch", created.id, "--json"]);
  assert.equal(asJson.code, 5);
  assert.equal(JSON.parse(asJson.stdout).status, "failed");
  assert.equal(asJson.stderr, "", "--json keeps the progress off both streams");
});

/** The job a running `create` made: the newest one. */
async function newestJob(): Promise<Job> {
  for (;;) {
    const [job] = (await t.services.jobs.list(alice.organizationId, 1)).data;
    if (job && job.status === "queued") return job as Job;
    await sleep(200);
  }
}

let trained: { job: string; model: string; receipt: string };

test("create --wait follows the job live, then verifies the receipt and writes the model", async () => {
  const model = join(home, "trained.onnx");
  const receipt = join(home, "receipt.json");
  const creating = start(
    ["jobs", "create", "--model", MODEL, "--dataset", DATASET, "--spec", SPEC, "--yes", "--wait"].concat([
      "--out",
      model,
      "--receipt",
      receipt,
    ]),
  );
  const job = await Promise.race([newestJob(), creating.done.then((r) => assert.fail(r.stderr))]);
  await reportTraining(t, job.id, [30, 60, 90], 90);
  const modelBytes = readFileSync(MODEL);
  await succeedJob(t, job.id, modelBytes, await signedReceipt(t, job.id, modelBytes));
  const run = await creating.done;
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /step 90\/90/);
  assert.match(run.stdout, /Receipt verified against the published key rk_\w+: \d+ checks passed/);
  assert.deepEqual(readFileSync(model), modelBytes);
  trained = { job: job.id, model, receipt };
});

test("receipt verify checks a receipt against the published key; a changed model exits 7", async () => {
  const ok = await json<{ valid: boolean; checks: unknown[] }>([
    "receipt",
    "verify",
    trained.receipt,
    "--model",
    trained.model,
  ]);
  assert.equal(ok.valid, true);
  const changed = join(home, "changed.onnx");
  const bytes = readFileSync(trained.model);
  bytes[bytes.length - 1]! ^= 1;
  writeFileSync(changed, bytes);
  const bad = await json<ErrorJson>(["receipt", "verify", trained.receipt, "--model", changed], 7);
  assert.equal(bad.error.code, "receipt_invalid");
  assert.deepEqual(
    bad.error.checks?.filter((c) => !c.ok).map((c) => c.name),
    ["model_hash"],
  );
});

test("download writes nothing when the receipt is signed by a key the platform does not publish", async () => {
  const { model, dataset, spec } = await t.services.jobs.get(alice.organizationId, trained.job);
  const created = await t.services.jobs.create(alice.organizationId, {
    model,
    dataset,
    spec: spec as QuoteRequest["spec"],
    verification: "basic",
  });
  const modelBytes = readFileSync(MODEL);
  const otherDir = mkdtempSync(join(tmpdir(), "veritrain-other-key-"));
  const forged = await signedReceipt(t, created.id, modelBytes, PlatformKey.load(undefined, otherDir));
  rmSync(otherDir, { recursive: true, force: true });
  await succeedJob(t, created.id, modelBytes, forged);
  const out = join(home, "forged.onnx");
  const refused = await json<ErrorJson>(
    ["jobs", "download", created.id, "--out", out, "--receipt", `${out}.json`],
    7,
  );
  assert.deepEqual(
    refused.error.checks?.filter((c) => !c.ok).map((c) => c.name),
    ["platform_signature"],
  );
  assert.equal(existsSync(out), false);
  assert.equal(existsSync(`${out}.json`), false);

  const good = await json<{ model_path: string }>([
    "jobs",
    "download",
    trained.job,
    "--out",
    join(home, "again.onnx"),
  ]);
  assert.deepEqual(readFileSync(good.model_path), readFileSync(trained.model));
  const weights = await json<{ model_path: string; format: string }>([
    "jobs",
    "download",
    trained.job,
    "--format",
    "safetensors",
    "--out",
    join(home, "weights.safetensors"),
  ]);
  assert.equal(weights.format, "safetensors");
  const expected = modelWeightsAsSafetensors(readFileSync(trained.model));
  assert.deepEqual(readFileSync(weights.model_path), Buffer.from(expected));
});

interface Sweep {
  id: string;
  status: string;
  job_count: number;
  jobs: Array<{ id: string; settings: Record<string, unknown> }>;
  best: { id: string; objective_value: number } | null;
  counts: Record<string, number>;
}

/** The sweep a running `sweeps create` made: the newest one. */
async function newestSweep(): Promise<Sweep> {
  for (;;) {
    const [sweep] = (await t.services.sweeps.list(alice.organizationId, 1)).data;
    if (sweep && sweep.status === "running") return sweep as Sweep;
    await sleep(200);
  }
}

test("sweeps create --grid --wait shows a line per job and ends with the best; get, list and cancel", async () => {
  const request = ["--model", MODEL, "--dataset", DATASET, "--spec", SPEC, "--verification", "basic"];
  const badGrid = await json<ErrorJson>(
    ["sweeps", "create", ...request, "--grid", "optimizer.lr", "--yes"],
    2,
  );
  assert.equal(badGrid.error.code, "grid_invalid");
  const quote = await json<{ job_count: number }>(["sweeps", "quote", ...request, "--grid", "seed=1,2,3"]);
  assert.equal(quote.job_count, 3);
  // A variant's model may be a local file: it is uploaded first, as `jobs create --model` does.
  const variants = join(home, "variants.json");
  writeFileSync(variants, JSON.stringify([{ model: MODEL }, { "optimizer.lr": 0.02 }]));
  const fromFile = await json<{ job_count: number; variants: Array<{ model: string }> }>([
    "sweeps",
    "quote",
    ...request,
    "--variants",
    variants,
    "--objective",
    "val_accuracy:max",
  ]);
  assert.equal(fromFile.job_count, 2);
  assert.match(fromFile.variants[0]!.model, /^file_/);
  const badObjective = await json<ErrorJson>(
    ["sweeps", "quote", ...request, "--variants", variants, "--objective", "accuracy"],
    2,
  );
  assert.equal(badObjective.error.code, "objective_invalid");

  const creating = start([
    "sweeps",
    "create",
    ...request,
    "--grid",
    "optimizer.lr=0.01,0.02,0.04",
    "--yes",
    "--wait",
  ]);
  const sweep = await Promise.race([newestSweep(), creating.done.then((r) => assert.fail(r.stderr))]);
  const [slow, good, broken] = sweep.jobs.map((j) => j.id);
  await reportTraining(t, slow!, [90], 90);
  await reportTraining(t, good!, [90], 90);
  await recordEpoch(t, slow!, { loss: 0.5, accuracy: 0.9 });
  await recordEpoch(t, good!, { loss: 0.2, accuracy: 0.9 });
  const modelBytes = readFileSync(MODEL);
  for (const id of [slow!, good!])
    await succeedJob(t, id, modelBytes, await signedReceipt(t, id, modelBytes));
  await failJob(t, broken!, "worker_failed");
  const run = await creating.done;
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /Quote: 3 jobs/);
  assert.match(run.stderr, /optimizer\.lr=0\.02\s+job\.succeeded/);
  assert.match(run.stderr, /optimizer\.lr=0\.04\s+job\.failed: worker_failed/);
  assert.match(run.stdout, /2 succeeded, 1 failed/);
  assert.match(
    run.stdout,
    new RegExp(`best: ${good} {2}val_loss 0\\.2000 {2}\\(optimizer\\.lr=0\\.02\\)\n$`),
  );

  const got = await json<Sweep>(["sweeps", "get", sweep.id]);
  assert.equal(got.best?.id, good);
  const listed = await json<{ data: Sweep[] }>(["sweeps", "list"]);
  assert.equal(listed.data[0]!.id, sweep.id);
  const ended = await json<ErrorJson>(["sweeps", "cancel", sweep.id], 1);
  assert.equal(ended.error.code, "sweep_not_cancellable");

  const queued = await json<Sweep>(["sweeps", "create", ...request, "--grid", "seed=1,2", "--yes"]);
  const cancelled = await json<Sweep>(["sweeps", "cancel", queued.id]);
  assert.equal(cancelled.status, "cancelled");
  assert.equal(cancelled.counts.cancelled, 2);
  const watched = await cli(["sweeps", "watch", queued.id]);
  assert.equal(watched.code, 5, "no job of the sweep succeeded");
  assert.match(watched.stdout, /best: none yet/);
});

test("billing balance, topup and transactions", async () => {
  const balance = await json<{ available_cents: number; reserved_cents: number }>(["billing", "balance"]);
  assert.equal(typeof balance.available_cents, "number");
  const session = await json<{ id: string; url: string; amount_cents: number }>([
    "billing",
    "topup",
    "12.50",
  ]);
  assert.equal(session.amount_cents, 1_250);
  assert.match(session.id, /^cs_local_/);
  // Paid on the stack's own payment page: `billing payments` lists it with its receipt.
  const paid = await fetch(new URL(`${new URL(session.url).pathname}/pay`, api), {
    method: "POST",
    redirect: "manual",
  });
  assert.equal(paid.status, 303);
  const payments = await json<{ data: Array<{ id: string; status: string; receipt_url: string | null }> }>([
    "billing",
    "payments",
  ]);
  const payment = payments.data.find((p) => p.id === session.id);
  assert.equal(payment?.status, "paid");
  assert.equal(payment?.receipt_url, new URL(new URL(session.url).pathname, api).href);
  const listed = await cli(["billing", "payments"]);
  assert.match(listed.stdout, /^ID\s+STATUS\s+AMOUNT\s+TAKEN BACK\s+CREATED\s+RECEIPT$/m);
  assert.ok(listed.stdout.includes(payment!.receipt_url!));
  const transactions = await json<{ data: Array<{ type: string }> }>([
    "billing",
    "transactions",
    "--limit",
    "100",
  ]);
  assert.ok(transactions.data.some((tx) => tx.type === "top_up"));
  const human = await cli(["billing", "transactions"]);
  assert.match(human.stdout, /^ID\s+TYPE\s+AVAILABLE\s+RESERVED\s+CREATED$/m);
  const badAmount = await json<ErrorJson>(["billing", "topup", "ten"], 2);
  assert.equal(badAmount.error.code, "price_invalid");
});

interface Endpoint {
  id: string;
  url: string;
  events: string[];
  secret?: string;
}

interface Delivery {
  id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
}

test("webhooks: create shows the secret once, test is delivered signed and logged, rotate-secret, delete", async () => {
  const receiver = new Receiver();
  const url = await receiver.listen();
  try {
    const unknown = await json<ErrorJson>(["webhooks", "create", "--url", url, "--events", "job.done"], 2);
    assert.equal(unknown.error.code, "events_invalid");
    assert.match(
      unknown.error.message,
      /unknown 'job\.done'; accepted, comma-separated: training_job\.succeeded, /,
    );
    const noUrl = await json<ErrorJson>(["webhooks", "create"], 2);
    assert.equal(noUrl.error.code, "url_missing");
    const badUrl = await json<ErrorJson & { error: { param: string } }>(
      ["webhooks", "create", "--url", "not a url"],
      1,
    );
    assert.equal(badUrl.error.param, "url", badUrl.error.message);

    const created = await json<Endpoint>([
      "webhooks",
      "create",
      "--url",
      url,
      "--events",
      "training_job.succeeded, training_job.failed",
      "--description",
      "ci",
    ]);
    assert.match(created.secret ?? "", /^whsec_/);
    assert.deepEqual(created.events, ["training_job.succeeded", "training_job.failed"]);
    const everything = await cli(["webhooks", "create", "--url", `${url}/all`]);
    assert.equal(everything.code, 0, everything.stderr);
    assert.match(
      everything.stdout,
      /events training_job\.succeeded, training_job\.failed, training_job\.cancelled, /,
    );
    assert.match(everything.stdout, /signing secret whsec_\S+\n {2}\(shown only now/);

    const listed = await json<{ data: Endpoint[] }>(["webhooks", "list"]);
    assert.deepEqual(
      listed.data.map((e) => e.url),
      [`${url}/all`, url],
    );
    assert.ok(
      listed.data.every((e) => e.secret === undefined),
      "the list never shows a secret",
    );
    const human = await cli(["webhooks", "list"]);
    assert.match(human.stdout, /^ID\s+CREATED\s+EVENTS\s+URL$/m);
    assert.match(
      human.stdout,
      new RegExp(`^${created.id}\\s+\\S+\\s+training_job\\.succeeded,training_job\\.failed\\s+${url}$`, "m"),
    );

    // A test event reaches the receiver signed with the endpoint's secret, and the log shows it.
    const queued = await json<Delivery>(["webhooks", "test", created.id]);
    assert.equal(queued.event_type, "webhook.test");
    const [received] = await receiver.waitFor(1);
    const verified = new Webhook(created.secret!).verify(
      received!.body,
      received!.headers as Record<string, string>,
    );
    assert.equal((verified as { type: string }).type, "webhook.test");
    assert.equal(received!.headers["webhook-id"], queued.id);
    let log: Delivery[] = [];
    for (let i = 0; i < 100; i++) {
      log = (await json<{ data: Delivery[] }>(["webhooks", "deliveries", created.id])).data;
      if (log[0]?.status === "succeeded") break;
      await sleep(100);
    }
    assert.deepEqual(
      log.map((d) => [d.id, d.event_type, d.status, d.attempts, d.last_status_code]),
      [[queued.id, "webhook.test", "succeeded", 1, 200]],
    );
    const humanLog = await cli(["webhooks", "deliveries", created.id]);
    assert.match(
      humanLog.stdout,
      new RegExp(`^${queued.id}\\s+webhook\\.test\\s+succeeded\\s+1\\s+\\S+\\s+HTTP 200$`, "m"),
    );

    const rotated = await json<Endpoint>(["webhooks", "rotate-secret", created.id]);
    assert.match(rotated.secret ?? "", /^whsec_/);
    assert.notEqual(rotated.secret, created.secret);

    const missing = await json<ErrorJson>(["webhooks", "delete", "whep_missing"], 1);
    assert.equal(missing.error.code, "resource_missing");
    for (const endpoint of listed.data) {
      const deleted = await json<{ id: string; deleted: boolean }>(["webhooks", "delete", endpoint.id]);
      assert.deepEqual(deleted, { id: endpoint.id, object: "webhook_endpoint", deleted: true });
    }
    const none = await cli(["webhooks", "list"]);
    assert.equal(none.stdout, "No webhook endpoints.\n");
  } finally {
    receiver.close();
  }
});
