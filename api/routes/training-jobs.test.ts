import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type SignedUp, signUp, userCalls } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { uploadFile } from "../../test/support/uploads.ts";

const fixture = (path: string) => readFile(new URL(`../../worker-runtime/fixtures/${path}`, import.meta.url));

let testApp: TestApp;
let dataDir: string;
let alice: SignedUp;
let bob: SignedUp;
let model: string;
let dataset: string;
let spec: Record<string, unknown>;
const TRAIN_SAMPLES = 1440;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "veritrain-jobs-"));
  testApp = await createTestApp({ dataDir });
  alice = await signUp(testApp.app);
  bob = await signUp(testApp.app);
  model = await uploadFile(testApp.app, alice, "model", "mlp.onnx", await fixture("mlp.onnx"));
  dataset = await uploadFile(
    testApp.app,
    alice,
    "dataset",
    "digits.safetensors",
    await fixture("data/digits.safetensors"),
  );
  spec = JSON.parse((await fixture("mlp.spec.json")).toString("utf8")) as Record<string, unknown>;
  await testApp.services.ledger.topUp(alice.organizationId, 10_000, "test:alice-credit");
});
after(async () => {
  await testApp.close();
  await rm(dataDir, { recursive: true, force: true });
});

const { post, get, balance } = userCalls(() => testApp.app);
const request = (overrides: Record<string, unknown> = {}) => ({
  model,
  dataset,
  spec,
  verification: "basic",
  ...overrides,
});

async function jobCount(user: SignedUp): Promise<number> {
  return (await get(user, "/v1/training-jobs?limit=100")).json<{ data: unknown[] }>().data.length;
}

test("a quote plans the steps the trainer will run and prices them", async () => {
  const res = await post(alice, "/v1/training-jobs/quote", request());
  assert.equal(res.statusCode, 200, res.body);
  const quote = res.json<{
    total_steps: number;
    train_samples: number;
    flops_per_step: number;
    price: { total_cents: number };
  }>();
  assert.equal(quote.train_samples, TRAIN_SAMPLES);
  assert.equal(quote.total_steps, 10 * Math.ceil(TRAIN_SAMPLES / 32));
  assert.ok(quote.flops_per_step > 0);
  assert.ok(quote.price.total_cents >= 25);

  const capped = await post(
    alice,
    "/v1/training-jobs/quote",
    request({ max_steps: 5, spec: { ...spec, max_steps: 5 } }),
  );
  assert.equal(capped.statusCode, 400, "unknown top-level fields are refused");
  const short = await post(alice, "/v1/training-jobs/quote", request({ spec: { ...spec, max_steps: 5 } }));
  assert.equal(short.json<{ total_steps: number }>().total_steps, 5);
});

test("bad requests answer the error shape naming the offending field", async () => {
  const malformed = await testApp.app.inject({
    method: "POST",
    url: "/v1/training-jobs/quote",
    headers: { ...alice.headers, "content-type": "application/json" },
    payload: '{"model": ',
  });
  expectApiError(malformed, 400, "invalid_json");

  const wrongType = expectApiError(
    await post(alice, "/v1/training-jobs/quote", request({ spec: { ...spec, batch_size: "many" } })),
    400,
    "parameter_invalid",
  );
  assert.equal(wrongType.param, "spec.batch_size");

  const badLevel = expectApiError(
    await post(alice, "/v1/training-jobs/quote", request({ verification: "max" })),
    400,
    "parameter_invalid",
  );
  assert.equal(badLevel.param, "verification");

  const unknownModel = expectApiError(
    await post(alice, "/v1/training-jobs/quote", request({ model: "file_00000000000000000000000000" })),
    404,
    "resource_missing",
  );
  assert.equal(unknownModel.param, "model");

  const swapped = expectApiError(
    await post(alice, "/v1/training-jobs/quote", request({ model: dataset })),
    400,
    "wrong_file_purpose",
  );
  assert.equal(swapped.param, "model");

  const missingTensor = expectApiError(
    await post(alice, "/v1/training-jobs/quote", request({ spec: { ...spec, inputs: { input: "pixels" } } })),
    400,
    "invalid_spec",
  );
  assert.equal(missingTensor.param, "spec.inputs.input");
  assert.match(missingTensor.message, /x_train/);

  const crossField = expectApiError(
    await post(
      alice,
      "/v1/training-jobs/quote",
      request({ spec: { ...spec, optimizer: { type: "sgd", lr: 0.1, nesterov: true } } }),
    ),
    400,
    "invalid_spec",
  );
  assert.match(String(crossField.param), /^spec\.optimizer/);
});

test("another organization's files and jobs do not exist for it", async () => {
  expectApiError(await post(bob, "/v1/training-jobs/quote", request()), 404, "resource_missing");
  const created = await post(alice, "/v1/training-jobs", request(), { "idempotency-key": "foreign-check" });
  assert.equal(created.statusCode, 201, created.body);
  const { id } = created.json<{ id: string }>();
  expectApiError(await get(bob, `/v1/training-jobs/${id}`), 404, "resource_missing");
  expectApiError(await get(bob, `/v1/training-jobs/${id}/events`), 404, "resource_missing");
  expectApiError(await post(bob, `/v1/training-jobs/${id}/cancel`, {}), 404, "resource_missing");
  expectApiError(await get(alice, "/v1/training-jobs/job_unknown"), 404, "resource_missing");
  await post(alice, `/v1/training-jobs/${id}/cancel`, {});
});

test("insufficient credits answer 402 and write nothing", async () => {
  const bobModel = await uploadFile(testApp.app, bob, "model", "mlp.onnx", await fixture("mlp.onnx"));
  const bobData = await uploadFile(
    testApp.app,
    bob,
    "dataset",
    "digits.safetensors",
    await fixture("data/digits.safetensors"),
  );
  const before = await balance(bob);
  expectApiError(
    await post(bob, "/v1/training-jobs", request({ model: bobModel, dataset: bobData })),
    402,
    "insufficient_credits",
  );
  assert.deepEqual(await balance(bob), before);
  assert.equal(await jobCount(bob), 0);
});

test("a price cap below the price refuses the job and writes nothing", async () => {
  const before = await balance(alice);
  const count = await jobCount(alice);
  const error = expectApiError(
    await post(alice, "/v1/training-jobs", request({ max_price_cents: 1 })),
    400,
    "price_cap_exceeded",
  );
  assert.equal(error.param, "max_price_cents");
  assert.deepEqual(await balance(alice), before);
  assert.equal(await jobCount(alice), count);
});

test("creating reserves the quoted price; the idempotency key replays, a reused key with another body is refused", async () => {
  const quote = (await post(alice, "/v1/training-jobs/quote", request())).json<{
    price: { total_cents: number };
  }>();
  const before = await balance(alice);
  const first = await post(alice, "/v1/training-jobs", request(), { "idempotency-key": "job-1" });
  assert.equal(first.statusCode, 201, first.body);
  const job = first.json<{ id: string; status: string; price: { reserved_cents: number } }>();
  assert.equal(job.status, "queued");
  assert.equal(job.price.reserved_cents, quote.price.total_cents);
  const afterCreate = await balance(alice);
  assert.equal(afterCreate.available_cents, before.available_cents - quote.price.total_cents);
  assert.equal(afterCreate.reserved_cents, before.reserved_cents + quote.price.total_cents);

  const replay = await post(alice, "/v1/training-jobs", request(), { "idempotency-key": "job-1" });
  assert.equal(replay.statusCode, 201);
  assert.equal(replay.headers["idempotent-replayed"], "true");
  assert.equal(replay.json<{ id: string }>().id, job.id);
  assert.deepEqual(await balance(alice), afterCreate);

  expectApiError(
    await post(alice, "/v1/training-jobs", request({ verification: "thorough" }), {
      "idempotency-key": "job-1",
    }),
    409,
    "idempotency_key_reused",
  );

  const cancelled = await post(alice, `/v1/training-jobs/${job.id}/cancel`, {});
  assert.equal(cancelled.statusCode, 200, cancelled.body);
  assert.equal(cancelled.json<{ status: string; price: { charged_cents: number } }>().status, "cancelled");
  assert.deepEqual(await balance(alice), before, "cancelling a job that never ran releases every cent");
  expectApiError(await post(alice, `/v1/training-jobs/${job.id}/cancel`, {}), 409, "job_not_cancellable");

  const events = (await get(alice, `/v1/training-jobs/${job.id}/events`)).json<{
    data: Array<{ type: string }>;
  }>();
  assert.deepEqual(
    events.data.map((e) => e.type),
    ["job.created", "job.cancelled"],
  );
});

test("the event stream replays the history as Server-Sent Events and ends after the final event", async () => {
  const created = (await post(alice, "/v1/training-jobs", request())).json<{ id: string }>();
  await post(alice, `/v1/training-jobs/${created.id}/cancel`, {});
  const res = await get(alice, `/v1/training-jobs/${created.id}/events`, { accept: "text/event-stream" });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /text\/event-stream/);
  const frames = res.body.trim().split("\n\n");
  assert.deepEqual(
    frames.map((frame) => /^event: (.+)$/m.exec(frame)?.[1]),
    ["job.created", "job.cancelled"],
  );
  const resumed = await get(alice, `/v1/training-jobs/${created.id}/events`, {
    accept: "text/event-stream",
    "last-event-id": /^id: (\d+)$/m.exec(frames[0]!)![1]!,
  });
  assert.equal(resumed.body.trim().split("\n\n").length, 1);
});

test("the model and the receipt exist once a job has succeeded: before that 409, for others 404", async () => {
  const created = await post(alice, "/v1/training-jobs", request(), {
    "idempotency-key": "results-not-ready",
  });
  assert.equal(created.statusCode, 201, created.body);
  const { id } = created.json<{ id: string }>();
  for (const [path, code] of [
    ["model", "model_not_ready"],
    ["receipt", "receipt_not_ready"],
  ] as const) {
    const early = expectApiError(await get(alice, `/v1/training-jobs/${id}/${path}`), 409, code);
    assert.match(early.message, /queued/);
    expectApiError(await get(bob, `/v1/training-jobs/${id}/${path}`), 404, "resource_missing");
    expectApiError(await get(alice, `/v1/training-jobs/job_unknown/${path}`), 404, "resource_missing");
    expectApiError(await get(alice, `/v1/training-jobs/file_${id}/${path}`), 404, "resource_missing");
  }
});
