// The client against the real API over HTTP: the app with its Postgres schema and Redis, listening
// on a free port. A job cannot succeed here (that needs the chain and nodes; the end-to-end test
// in test/ covers it), so these tests follow jobs to cancellation. Dropped connections are made
// by wrapping the real fetch: the request reaches the real server, the answer is cut or lost.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createReadStream, mkdtempSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { PlatformKey } from "../../api/services/platform-key.ts";
import type { Receipt } from "../../protocol/receipt.ts";
import { receiptMessage, sha256Hex } from "../../protocol/signed-messages.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { recordEpoch, signedReceipt, succeedJob } from "../../test/support/finished-jobs.ts";
import { Veritrain } from "./client.ts";
import type { ApiErrorCode } from "./error-codes.ts";
import { VeritrainConnectionError, VeritrainError } from "./errors.ts";
import type { FetchLike } from "./transport.ts";
import type { JobEvent, TrainingJobParams, TrainingSpec, VerificationLevel } from "./types.ts";

const fixture = (path: string) => readFile(new URL(`../../worker-runtime/fixtures/${path}`, import.meta.url));

let testApp: TestApp;
let baseUrl: string;
let alice: Veritrain;
let aliceKey: string;
let aliceOrg: string;
let request: TrainingJobParams;
let modelBytes: Uint8Array;

async function signUp() {
  const email = `sdk-${randomBytes(6).toString("hex")}@example.com`;
  const password = `pw-${randomBytes(12).toString("hex")}`;
  const result = await new Veritrain({ baseUrl }).auth.signup({ email, password });
  return {
    client: new Veritrain({ apiKey: result.api_key.secret, baseUrl }),
    apiKey: result.api_key.secret,
    organizationId: result.organization.id,
    email,
    password,
  };
}

/** The error a call throws, checked to be a VeritrainError with this status and code. */
async function apiError(call: Promise<unknown>, status: number, code: ApiErrorCode): Promise<VeritrainError> {
  const error = await call.then(
    () => assert.fail(`expected ${status} ${code}, the call succeeded`),
    (thrown: unknown) => thrown,
  );
  assert.ok(error instanceof VeritrainError, `expected a VeritrainError, got ${String(error)}`);
  assert.equal(error.status, status, error.message);
  assert.equal(error.code, code, error.message);
  assert.match(String(error.requestId), /^req_[0-9a-f]{32}$/);
  return error;
}

async function eventTypes(events: AsyncIterable<JobEvent>): Promise<string[]> {
  const types: string[] = [];
  for await (const event of events) types.push(event.type);
  return types;
}

before(async () => {
  testApp = await createTestApp();
  baseUrl = await testApp.app.listen({ port: 0, host: "127.0.0.1" });
  const signedUp = await signUp();
  alice = signedUp.client;
  aliceKey = signedUp.apiKey;
  aliceOrg = signedUp.organizationId;
  modelBytes = new Uint8Array(await fixture("mlp.onnx"));
  const model = await alice.files.upload("model", modelBytes, "mlp.onnx");
  const dataset = await alice.files.upload(
    "dataset",
    new Blob([await fixture("data/digits.safetensors")]),
    "digits.safetensors",
  );
  const spec = JSON.parse((await fixture("mlp.spec.json")).toString("utf8")) as TrainingSpec;
  request = { model: model.id, dataset: dataset.id, spec, verification: "basic" };
});
after(async () => {
  await testApp.close();
});

describe("accounts", () => {
  test("signup returns a key that works; a login session can mint and revoke keys, logout ends it", async () => {
    const { client, organizationId, email, password } = await signUp();
    assert.deepEqual(await client.billing.balance(), { available_cents: 0, reserved_cents: 0 });

    const portal = new Veritrain({ baseUrl });
    const session = await portal.auth.login({ email, password });
    assert.equal(session.user.organization_id, organizationId);
    const minted = await portal.apiKeys.create({ name: "ci" });
    assert.match(minted.secret, /^vt_/);
    const ci = new Veritrain({ apiKey: minted.secret, baseUrl });
    assert.deepEqual(await ci.billing.balance(), { available_cents: 0, reserved_cents: 0 });
    const keys = await portal.apiKeys.list();
    assert.deepEqual(keys.data.map((k) => k.name).sort(), ["Default key", "ci"]);

    const revoked = await portal.apiKeys.revoke(minted.id);
    assert.ok(revoked.revoked_at);
    await apiError(ci.billing.balance(), 401, "invalid_api_key");
    await portal.auth.logout();
    await apiError(portal.apiKeys.list(), 401, "missing_credentials");
  });

  test("a wrong password is a typed 401", async () => {
    const error = await apiError(
      new Veritrain({ baseUrl }).auth.login({ email: "nobody@example.com", password: "wrong-password" }),
      401,
      "invalid_credentials",
    );
    assert.equal(error.type, "authentication_error");
  });
});

describe("billing and files", () => {
  test("the balance and every transaction, page after page", async () => {
    for (let i = 1; i <= 3; i++) await testApp.services.ledger.topUp(aliceOrg, 1000 * i, `test:sdk-${i}`);
    const balance = await alice.billing.balance();
    assert.ok(balance.available_cents >= 6000);
    const firstPage = await alice.billing.transactions({ limit: 2 });
    assert.equal(firstPage.data.length, 2);
    assert.equal(firstPage.has_more, true);
    const all = [];
    for await (const transaction of alice.billing.transactions({ limit: 2 })) all.push(transaction);
    const topUps = all.filter((t) => t.type === "top_up").map((t) => t.available_change_cents);
    assert.deepEqual(topUps.slice(0, 3), [3000, 2000, 1000], "newest first");
    assert.equal(new Set(all.map((t) => t.id)).size, all.length, "no transaction twice");
  });

  test("a local stack's test checkout is paid through the client, once however often", async () => {
    const { client } = await signUp();
    const session = await client.billing.createCheckoutSession({
      amount_cents: 1_500,
      success_url: `${baseUrl}/portal/?checkout=success`,
      cancel_url: `${baseUrl}/portal/?checkout=cancelled`,
    });
    assert.equal(session.url, `${baseUrl}/v1/billing/local-checkout/${session.id}`);
    await client.billing.payLocalCheckout(session.id);
    await client.billing.payLocalCheckout(session.id);
    assert.deepEqual(await client.billing.balance(), { available_cents: 1_500, reserved_cents: 0 });
    await apiError(client.billing.payLocalCheckout("cs_local_unknown"), 404, "resource_missing");
  });

  test("the published receipt keys, without an API key", async () => {
    const keys = await new Veritrain({ baseUrl }).receiptKeys.list();
    assert.deepEqual(
      keys.data.map((key) => [key.algorithm, key.public_key]),
      [["ed25519", testApp.services.receipts.publicKeyHex]],
    );
  });

  test("receipts verify against the published key, never the one they name", async () => {
    const anyone = new Veritrain({ baseUrl });
    const [published] = (await anyone.receiptKeys.list()).data;
    const signed = (key: PlatformKey) => {
      const body = { platform: { public_key: key.publicKeyHex } } as unknown as Receipt["body"];
      return { body, signature: key.signHex(receiptMessage(body)) };
    };
    const signatureCheck = (v: { checks: Array<{ name: string; ok: boolean; detail: string }> }) =>
      v.checks.find((c) => c.name === "platform_signature");

    const genuine = await anyone.receiptKeys.verify(
      signed(PlatformKey.load(undefined, testApp.config.dataDir)),
      new Uint8Array(),
    );
    assert.equal(genuine.keyId, published!.id);
    assert.equal(signatureCheck(genuine)?.ok, true);

    const forger = PlatformKey.load(undefined, mkdtempSync(join(tmpdir(), "forger-")));
    const forged = await anyone.receiptKeys.verify(signed(forger), new Uint8Array());
    assert.equal(forged.valid, false);
    assert.match(signatureCheck(forged)?.detail ?? "", /other than the platform's published key/);
  });

  test("uploads are inspected, listed, downloaded as uploaded and deleted", async () => {
    const upload = await alice.files.upload("model", modelBytes, "copy.onnx");
    assert.equal(upload.sha256, sha256Hex(modelBytes));
    assert.equal(upload.bytes, modelBytes.length);
    assert.ok("opset" in upload.details && upload.details.parameter_count > 0);
    assert.deepEqual(await alice.files.get(upload.id), upload);
    assert.deepEqual(await alice.files.content(upload.id), modelBytes);
    const models = [];
    for await (const file of alice.files.list({ purpose: "model", limit: 1 })) models.push(file.id);
    assert.deepEqual(models, [upload.id, request.model]);

    const used = (await alice.files.storage()).used_bytes;
    const deleted = await alice.files.delete(upload.id);
    assert.ok(deleted.deleted_at);
    assert.deepEqual(await alice.files.storage(), {
      used_bytes: used - modelBytes.length,
      quota_bytes: testApp.config.storageQuotaBytes,
    });
    await apiError(alice.files.get(upload.id), 404, "resource_missing");
  });

  test("uploads from a path and from a stream, reporting progress up to the whole file", async () => {
    const path = fileURLToPath(new URL("../../worker-runtime/fixtures/mlp.onnx", import.meta.url));
    const seen: number[] = [];
    const fromPath = await alice.files.upload("model", path, undefined, {
      onProgress: ({ sentBytes, totalBytes }) => {
        assert.equal(totalBytes, modelBytes.length);
        seen.push(sentBytes);
      },
    });
    assert.equal(fromPath.filename, "mlp.onnx", "the name defaults to the path's");
    assert.equal(fromPath.sha256, sha256Hex(modelBytes));
    assert.equal(seen.at(-1), modelBytes.length);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
      "progress only grows",
    );

    const fromStream = await alice.files.upload(
      "model",
      createReadStream(path, { highWaterMark: 4096 }),
      "streamed.onnx",
    );
    assert.equal(fromStream.sha256, sha256Hex(modelBytes));
    assert.equal(fromStream.bytes, modelBytes.length);
  });

  test("a file the API refuses is a typed error naming the reason", async () => {
    const error = await apiError(
      alice.files.upload("model", new TextEncoder().encode("not onnx"), "bad.onnx"),
      422,
      "invalid_model",
    );
    assert.ok(error.message.length > 0);
  });
});

describe("training jobs", { timeout: 60_000 }, () => {
  test("a quote prices the plan; bad input is a 400 naming the field", async () => {
    const quote = await alice.trainingJobs.quote(request);
    assert.equal(quote.object, "quote");
    assert.ok(quote.total_steps > 0 && quote.price.total_cents > 0);

    const wrongType = await apiError(
      // A caller without types (curl, plain JavaScript) can send anything.
      alice.trainingJobs.quote({
        ...request,
        spec: { ...request.spec, batch_size: "many" } as unknown as TrainingSpec,
      }),
      400,
      "parameter_invalid",
    );
    assert.equal(wrongType.param, "spec.batch_size");
    assert.equal(wrongType.type, "invalid_request_error");
    const badLevel = await apiError(
      alice.trainingJobs.quote({ ...request, verification: "max" as VerificationLevel }),
      400,
      "parameter_invalid",
    );
    assert.equal(badLevel.param, "verification");
  });

  test("create is idempotent: the same key returns the same job and reserves once", async () => {
    const before = await alice.billing.balance();
    const job = await alice.trainingJobs.create(request, { idempotencyKey: "sdk-create-1" });
    assert.equal(job.status, "queued");
    const replay = await alice.trainingJobs.create(request, { idempotencyKey: "sdk-create-1" });
    assert.equal(replay.id, job.id);
    const afterBalance = await alice.billing.balance();
    assert.equal(afterBalance.reserved_cents, before.reserved_cents + job.price.reserved_cents);
    const other = await alice.trainingJobs.create(request);
    assert.notEqual(other.id, job.id, "without a key, each call is its own job");
    await alice.trainingJobs.cancel(job.id);
    await alice.trainingJobs.cancel(other.id);
  });

  test("get, and list page by page with the iterator", async () => {
    const created = [];
    for (let i = 0; i < 3; i++) created.push((await alice.trainingJobs.create(request)).id);
    assert.equal((await alice.trainingJobs.get(created[0]!)).id, created[0]);
    const firstPage = await alice.trainingJobs.list({ limit: 1 });
    assert.deepEqual(
      firstPage.data.map((job) => job.id),
      [created[2]],
    );
    assert.equal(firstPage.has_more, true);
    const all: string[] = [];
    for await (const job of alice.trainingJobs.list({ limit: 2 })) all.push(job.id);
    const everything = await alice.trainingJobs.list({ limit: 100 });
    assert.deepEqual(
      all,
      everything.data.map((job) => job.id),
    );
    assert.deepEqual(all.slice(0, 3), created.reverse());
    for (const id of created) await alice.trainingJobs.cancel(id);
  });

  test("cancel; the event stream ends after job.cancelled; waitFor returns the cancelled job", async () => {
    const job = await alice.trainingJobs.create(request);
    const live = alice.trainingJobs.events(job.id);
    assert.equal((await live.next()).value?.type, "job.created");
    // The stream is open and waiting: the cancellation reaches it live.
    const cancelled = await alice.trainingJobs.cancel(job.id);
    assert.equal(cancelled.status, "cancelled");
    assert.equal((await live.next()).value?.type, "job.cancelled");
    assert.equal((await live.next()).done, true);
    assert.deepEqual(await eventTypes(alice.trainingJobs.events(job.id)), ["job.created", "job.cancelled"]);
    const seen: string[] = [];
    const waited = await alice.trainingJobs.waitFor(job.id, { onEvent: (event) => seen.push(event.type) });
    assert.equal(waited.status, "cancelled");
    assert.deepEqual(seen, ["job.created", "job.cancelled"]);
    await apiError(alice.trainingJobs.cancel(job.id), 409, "job_not_cancellable");
  });

  test("model and receipt before success are 409 with a code; another organization's job is 404", async () => {
    const job = await alice.trainingJobs.create(request);
    await apiError(alice.trainingJobs.model(job.id), 409, "model_not_ready");
    await apiError(alice.trainingJobs.receipt(job.id), 409, "receipt_not_ready");
    await apiError(alice.trainingJobs.verifiedModel(job.id, { publishedKey: true }), 409, "model_not_ready");
    const { client: bob } = await signUp();
    const foreign = await apiError(bob.trainingJobs.get(job.id), 404, "resource_missing");
    assert.equal(foreign.type, "not_found_error");
    await apiError(bob.trainingJobs.receipt(job.id), 404, "resource_missing");
    await alice.trainingJobs.cancel(job.id);
  });
});

describe("training sweeps", { timeout: 60_000 }, () => {
  /** An organization of its own, so its jobs and balance are the sweep's alone. */
  async function sweeper(credits: number) {
    const user = await signUp();
    if (credits > 0)
      await testApp.services.ledger.topUp(user.organizationId, credits, `test:sweeps-${user.email}`);
    const model = await user.client.files.upload("model", modelBytes, "mlp.onnx");
    const dataset = await user.client.files.upload(
      "dataset",
      new Blob([await fixture("data/digits.safetensors")]),
      "digits.safetensors",
    );
    return { ...user, base: { ...request, model: model.id, dataset: dataset.id } };
  }

  test("quote, create from a grid, get, list; the summary names the best succeeded job", async () => {
    const { client, base } = await sweeper(100_000);
    const grid = { "optimizer.lr": [0.01, 0.02], seed: [1, 2] };
    const quote = await client.sweeps.quote({ ...base, grid });
    assert.equal(quote.job_count, 4);
    const sweep = await client.sweeps.create({ ...base, grid, max_price_cents: quote.price.total_cents });
    assert.equal(sweep.status, "running");
    assert.equal(sweep.price.quoted_cents, quote.price.total_cents);
    assert.deepEqual(
      sweep.jobs.map((j) => j.settings),
      quote.variants.map((v) => v.settings),
    );
    assert.deepEqual(await client.billing.balance(), {
      available_cents: 100_000 - quote.price.total_cents,
      reserved_cents: quote.price.total_cents,
    });
    const job = await client.trainingJobs.get(sweep.jobs[3]!.id);
    assert.equal((job.spec as { seed: number }).seed, 2);

    const [first, second] = sweep.jobs.map((j) => j.id);
    for (const [id, loss] of [
      [first!, 0.4],
      [second!, 0.2],
    ] as const) {
      await recordEpoch(testApp, id, { loss, accuracy: 0.9 });
      await succeedJob(testApp, id, modelBytes, await signedReceipt(testApp, id, modelBytes));
    }
    const summary = await client.sweeps.get(sweep.id);
    assert.equal(summary.counts.succeeded, 2);
    assert.equal(summary.counts.queued, 2);
    assert.deepEqual(summary.best, {
      id: second,
      settings: { "optimizer.lr": 0.01, seed: 2 },
      objective_value: 0.2,
    });
    const listed: string[] = [];
    for await (const s of client.sweeps.list({ limit: 1 })) listed.push(s.id);
    assert.deepEqual(listed, [sweep.id]);
    await client.sweeps.cancel(sweep.id);
  });

  test("cancel ends the stream of every job's events; waitFor returns the cancelled sweep", async () => {
    const { client, base } = await sweeper(100_000);
    const sweep = await client.sweeps.create({ ...base, variants: [{}, { "optimizer.lr": 0.02 }] });
    const live = client.sweeps.events(sweep.id);
    const created = [(await live.next()).value, (await live.next()).value];
    assert.deepEqual(
      created.map((e) => e?.type),
      ["job.created", "job.created"],
    );
    assert.deepEqual(new Set(created.map((e) => e?.job)), new Set(sweep.jobs.map((j) => j.id)));
    const cancelled = await client.sweeps.cancel(sweep.id);
    assert.equal(cancelled.status, "cancelled");
    assert.deepEqual(
      [(await live.next()).value?.type, (await live.next()).value?.type],
      ["job.cancelled", "job.cancelled"],
    );
    assert.equal((await live.next()).done, true);
    const seen: string[] = [];
    const waited = await client.sweeps.waitFor(sweep.id, { onEvent: (event) => seen.push(event.type) });
    assert.equal(waited.status, "cancelled");
    assert.equal(seen.length, 4);
    assert.deepEqual(await client.billing.balance(), { available_cents: 100_000, reserved_cents: 0 });
    await apiError(client.sweeps.cancel(sweep.id), 409, "sweep_not_cancellable");
  });

  test("refusals are typed: too many jobs, a balance short of the total (nothing created), another's sweep", async () => {
    const { client, base } = await sweeper(1);
    const large = await apiError(
      client.sweeps.create({ ...base, grid: { seed: Array.from({ length: 65 }, (_, i) => i) } }),
      400,
      "parameter_invalid",
    );
    assert.equal(large.param, "grid.seed");
    await apiError(
      client.sweeps.quote({
        ...base,
        grid: { seed: [1, 2, 3, 4, 5, 6, 7, 8, 9], epochs: [1, 2, 3, 4, 5, 6, 7, 8] },
      }),
      400,
      "sweep_too_large",
    );
    await apiError(client.sweeps.create({ ...base, variants: [{}, {}] }), 402, "insufficient_credits");
    assert.equal((await client.sweeps.list()).data.length, 0);
    assert.equal((await client.trainingJobs.list()).data.length, 0);
    await apiError(alice.sweeps.get("sweep_00000000000000000000000000"), 404, "resource_missing");
  });
});

describe("when the network fails", { timeout: 60_000 }, () => {
  /** A fetch whose first `failures` matching requests reach the server but lose their answer. */
  function losingAnswers(matches: (url: string, init: RequestInit) => boolean, failures: number) {
    const calls: Array<{ url: string; headers: Record<string, string> }> = [];
    const lossy: FetchLike = async (url, init) => {
      calls.push({ url, headers: { ...(init.headers as Record<string, string>) } });
      const response = await fetch(url, init);
      if (!matches(url, init) || failures-- <= 0) return response;
      await response.body?.cancel();
      throw new TypeError("fetch failed", { cause: new Error("socket hang up") });
    };
    return { lossy, calls };
  }

  test("a create whose answer is lost is retried with the same key: one job, reserved once", async () => {
    const before = await alice.billing.balance();
    const { lossy, calls } = losingAnswers((_, init) => init.method === "POST", 1);
    const client = new Veritrain({ apiKey: aliceKey, baseUrl, fetch: lossy });
    const job = await client.trainingJobs.create(request);
    const keys = calls.map((call) => call.headers["idempotency-key"]);
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1]);
    const after = await alice.billing.balance();
    assert.equal(after.reserved_cents, before.reserved_cents + job.price.reserved_cents, "reserved once");
    await alice.trainingJobs.cancel(job.id);
  });

  test("a request that is not idempotent is not retried: the error says the connection failed", async () => {
    const job = await alice.trainingJobs.create(request);
    const { lossy, calls } = losingAnswers((url) => url.endsWith("/cancel"), 1);
    const client = new Veritrain({ apiKey: aliceKey, baseUrl, fetch: lossy });
    const error = await client.trainingJobs.cancel(job.id).then(
      () => assert.fail("the lost answer was not reported"),
      (thrown: unknown) => thrown,
    );
    assert.ok(error instanceof VeritrainConnectionError);
    assert.equal(error.status, 0);
    assert.match(error.message, /socket hang up/);
    assert.equal(calls.length, 1);
    assert.equal((await client.trainingJobs.get(job.id)).status, "cancelled", "the server did cancel it");
  });

  test("an unreachable API is a connection error after the retries", async () => {
    const server = createServer().listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    server.close();
    await once(server, "close");
    const closed = new Veritrain({ apiKey: aliceKey, baseUrl: `http://127.0.0.1:${port}`, maxRetries: 1 });
    const error = await closed.billing.balance().then(
      () => assert.fail(`nothing listens on port ${port}`),
      (thrown: unknown) => thrown,
    );
    assert.ok(error instanceof VeritrainConnectionError);
    assert.equal(error.code, "connection_failed");
    assert.match(error.message, /ECONNREFUSED/);
  });

  test("an answer that does not come in time is a timeout, retried where safe", async () => {
    let attempts = 0;
    const silent: FetchLike = (_input, init) => {
      attempts++;
      return new Promise((_, reject) =>
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true }),
      );
    };
    const client = new Veritrain({ apiKey: aliceKey, baseUrl, fetch: silent, timeoutMs: 50, maxRetries: 1 });
    const error = await client.billing.balance().then(
      () => assert.fail("a request with no answer succeeded"),
      (thrown: unknown) => thrown,
    );
    assert.ok(error instanceof VeritrainConnectionError);
    assert.equal(error.code, "timeout");
    assert.equal(attempts, 2, "a GET is tried again once");
  });

  test("the key and the address come from VERITRAIN_API_KEY and VERITRAIN_BASE_URL", async () => {
    const saved = { key: process.env.VERITRAIN_API_KEY, url: process.env.VERITRAIN_BASE_URL };
    process.env.VERITRAIN_API_KEY = aliceKey;
    process.env.VERITRAIN_BASE_URL = baseUrl;
    try {
      assert.equal(
        (await new Veritrain().billing.balance()).available_cents,
        (await alice.billing.balance()).available_cents,
      );
    } finally {
      for (const [name, value] of [
        ["VERITRAIN_API_KEY", saved.key],
        ["VERITRAIN_BASE_URL", saved.url],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  test("an event stream cut mid-way resumes after the last event it delivered", async () => {
    const job = await alice.trainingJobs.create(request);
    await alice.trainingJobs.cancel(job.id);

    const requests: Array<string | undefined> = [];
    let cut = false;
    // The first stream delivers exactly one event and then breaks, as a dropped connection does.
    const cutting: FetchLike = async (url, init) => {
      requests.push((init.headers as Record<string, string>)["last-event-id"]);
      const response = await fetch(url, init);
      if (cut || !url.endsWith("/events")) return response;
      cut = true;
      const text = await response.text();
      const firstFrame = text.slice(0, text.indexOf("\n\n") + 2);
      // The error comes on the read after the frame: erroring at once would discard the frame.
      const pieces = [firstFrame];
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const piece = pieces.shift();
          if (piece !== undefined) controller.enqueue(new TextEncoder().encode(piece));
          else controller.error(new TypeError("terminated", { cause: new Error("other side closed") }));
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const client = new Veritrain({ apiKey: aliceKey, baseUrl, fetch: cutting });
    const events: JobEvent[] = [];
    for await (const event of client.trainingJobs.events(job.id)) events.push(event);
    assert.deepEqual(
      events.map((e) => e.type),
      ["job.created", "job.cancelled"],
    );
    assert.deepEqual(requests, [undefined, String(events[0]!.id)]);
  });
});
