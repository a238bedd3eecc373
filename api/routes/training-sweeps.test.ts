// Sweeps over HTTP against the real app (Postgres, Redis, the pricing worker): the request's shape
// refused with a field to fix, one price and cap for all the jobs, all or none created against
// the balance, the summary and its best job as jobs end, the sweep's event stream, and cancel.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { type SignedUp, signUp, userCalls } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { failJob, recordEpoch, signedReceipt, succeedJob } from "../../test/support/finished-jobs.ts";
import { uploadFile } from "../../test/support/uploads.ts";
import type { SweepView } from "../services/sweep-view.ts";

const fixture = (path: string) => readFile(new URL(`../../worker-runtime/fixtures/${path}`, import.meta.url));

let t: TestApp;
let alice: SignedUp;
let bob: SignedUp;
let model: string;
let otherModel: string;
let dataset: string;
let spec: Record<string, unknown>;

before(async () => {
  t = await createTestApp();
  alice = await signUp(t.app);
  bob = await signUp(t.app);
  model = await uploadFile(t.app, alice, "model", "mlp.onnx", await fixture("mlp.onnx"));
  otherModel = await uploadFile(t.app, alice, "model", "mlp-copy.onnx", await fixture("mlp.onnx"));
  dataset = await uploadFile(
    t.app,
    alice,
    "dataset",
    "digits.safetensors",
    await fixture("data/digits.safetensors"),
  );
  // A short job keeps the pricing probe cheap; the sweep's arithmetic is the same at any length.
  spec = { ...JSON.parse((await fixture("mlp.spec.json")).toString("utf8")), max_steps: 20 };
  await t.services.ledger.topUp(alice.organizationId, 100_000, "test:alice-credit");
});
after(async () => {
  await t.close();
});

const { post, get, balance } = userCalls(() => t.app);
const base = (overrides: Record<string, unknown> = {}) => ({
  model,
  dataset,
  spec,
  verification: "basic",
  ...overrides,
});

async function singlePrice(overrides: Record<string, unknown>): Promise<number> {
  const res = await post(alice, "/v1/training-jobs/quote", base(overrides));
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ price: { total_cents: number } }>().price.total_cents;
}

async function createSweep(user: SignedUp, body: Record<string, unknown>): Promise<SweepView> {
  const res = await post(user, "/v1/training-jobs/sweeps", body);
  assert.equal(res.statusCode, 201, res.body);
  return res.json<SweepView>();
}

async function succeed(jobId: string) {
  const trained = new Uint8Array(await fixture("mlp.onnx"));
  await succeedJob(t, jobId, trained, await signedReceipt(t, jobId, trained));
}

test("a sweep's shape is refused with the field to fix and the limit it broke", async () => {
  const neither = expectApiError(await post(alice, "/v1/training-jobs/sweeps", base()), 400, "invalid_sweep");
  assert.match(neither.message, /exactly one of 'grid'.*or 'variants'/);
  expectApiError(
    await post(alice, "/v1/training-jobs/sweeps", base({ grid: { epochs: [1] }, variants: [{}] })),
    400,
    "invalid_sweep",
  );
  const large = expectApiError(
    await post(
      alice,
      "/v1/training-jobs/sweeps/quote",
      base({ grid: { "optimizer.lr": [1, 2, 3, 4, 5], epochs: [1, 2, 3, 4, 5], seed: [1, 2, 3] } }),
    ),
    400,
    "sweep_too_large",
  );
  assert.equal(large.param, "grid");
  assert.match(large.message, /at most 64 jobs; this grid makes 5 × 5 × 3 = 75/);
  const tooMany = expectApiError(
    await post(alice, "/v1/training-jobs/sweeps", base({ variants: Array.from({ length: 65 }, () => ({})) })),
    400,
    "parameter_invalid",
  );
  assert.equal(tooMany.param, "variants");
  assert.match(tooMany.message, /64/);
  const prototype = expectApiError(
    await post(alice, "/v1/training-jobs/sweeps/quote", base({ variants: [{ "__proto__.lr": 1 }] })),
    400,
    "invalid_sweep",
  );
  assert.equal(prototype.param, "variants.0.__proto__.lr");

  const badLr = expectApiError(
    await post(alice, "/v1/training-jobs/sweeps", base({ variants: [{}, { "optimizer.lr": -1 }] })),
    400,
    "invalid_spec",
  );
  assert.equal(badLr.param, "variants.1.optimizer.lr");
  assert.match(
    badLr.message,
    /^Job 2 of 2 \(optimizer\.lr=-1\): Invalid training spec at spec\.optimizer\.lr/,
  );
  const gridLr = expectApiError(
    await post(alice, "/v1/training-jobs/sweeps/quote", base({ grid: { "optimizer.lr": [0.1, "fast"] } })),
    400,
    "invalid_spec",
  );
  assert.equal(gridLr.param, "grid.optimizer.lr");

  const unknownModel = expectApiError(
    await post(
      alice,
      "/v1/training-jobs/sweeps",
      base({ variants: [{ model: "file_00000000000000000000000000" }] }),
    ),
    404,
    "resource_missing",
  );
  assert.equal(unknownModel.param, "variants.0.model");
  expectApiError(
    await post(alice, "/v1/training-jobs/sweeps", base({ grid: { model: [model, dataset] } })),
    400,
    "wrong_file_purpose",
  );
  assert.equal((await get(alice, "/v1/training-jobs/sweeps")).json<{ data: unknown[] }>().data.length, 0);
});

test("a sweep is quoted as the sum of its jobs' quotes, one per combination of the grid", async () => {
  const res = await post(
    alice,
    "/v1/training-jobs/sweeps/quote",
    base({ grid: { "optimizer.lr": [0.01, 0.02], epochs: [1, 2] }, max_price_cents: 1 }),
  );
  assert.equal(res.statusCode, 200, res.body);
  const quote = res.json<{
    job_count: number;
    price: { total_cents: number };
    variants: Array<{ settings: Record<string, unknown>; price_cents: number; total_steps: number }>;
    within_price_cap: boolean;
  }>();
  assert.equal(quote.job_count, 4);
  assert.deepEqual(
    quote.variants.map((v) => v.settings),
    [
      { "optimizer.lr": 0.01, epochs: 1 },
      { "optimizer.lr": 0.01, epochs: 2 },
      { "optimizer.lr": 0.02, epochs: 1 },
      { "optimizer.lr": 0.02, epochs: 2 },
    ],
  );
  const lrSpec = (lr: number) => ({ ...spec, optimizer: { ...(spec.optimizer as object), lr } });
  const single = await singlePrice({ spec: { ...lrSpec(0.02), epochs: 2 } });
  assert.equal(quote.variants[3]!.price_cents, single);
  assert.equal(
    quote.price.total_cents,
    quote.variants.reduce((sum, v) => sum + v.price_cents, 0),
  );
  assert.equal(quote.within_price_cap, false);
});

test("a balance short of the sweep's total creates nothing; a cap below it neither", async () => {
  const bobModel = await uploadFile(t.app, bob, "model", "mlp.onnx", await fixture("mlp.onnx"));
  const bobData = await uploadFile(
    t.app,
    bob,
    "dataset",
    "d.safetensors",
    await fixture("data/digits.safetensors"),
  );
  const request = base({ model: bobModel, dataset: bobData, grid: { seed: [1, 2, 3] } });
  const one = await singlePrice({});
  // Enough for two of the three jobs: an all-or-nothing creation must not make those two.
  await t.services.ledger.topUp(bob.organizationId, 2 * one + 1, "test:bob-credit");
  const before = await balance(bob);
  const short = expectApiError(
    await post(bob, "/v1/training-jobs/sweeps", request),
    402,
    "insufficient_credits",
  );
  assert.match(
    short.message,
    new RegExp(`needs ${3 * one} cents of credits but ${2 * one + 1} are available`),
  );
  assert.deepEqual(await balance(bob), before);
  assert.equal((await get(bob, "/v1/training-jobs?limit=100")).json<{ data: unknown[] }>().data.length, 0);
  assert.equal((await get(bob, "/v1/training-jobs/sweeps")).json<{ data: unknown[] }>().data.length, 0);

  const capped = expectApiError(
    await post(
      alice,
      "/v1/training-jobs/sweeps",
      base({ grid: { seed: [1, 2] }, max_price_cents: 2 * one - 1 }),
    ),
    400,
    "price_cap_exceeded",
  );
  assert.equal(capped.param, "max_price_cents");
});

test("creating reserves every job's price, each job runs its variant, and the idempotency key replays", async () => {
  const before = await balance(alice);
  const body = base({ variants: [{ "optimizer.lr": 0.03 }, { model: otherModel, epochs: 2 }] });
  const first = await post(alice, "/v1/training-jobs/sweeps", body, { "idempotency-key": "sweep-1" });
  assert.equal(first.statusCode, 201, first.body);
  const sweep = first.json<SweepView>();
  assert.match(sweep.id, /^sweep_/);
  assert.equal(sweep.status, "running");
  assert.equal(sweep.job_count, 2);
  assert.equal(sweep.counts.queued, 2);
  assert.deepEqual(sweep.objective, { metric: "val_loss", goal: "minimize" });
  assert.equal(sweep.best, null);
  const afterCreate = await balance(alice);
  assert.equal(afterCreate.available_cents, before.available_cents - sweep.price.quoted_cents);
  assert.equal(sweep.price.reserved_cents, sweep.price.quoted_cents);

  const [lrJob, modelJob] = await Promise.all(
    sweep.jobs.map(async (j) =>
      (await get(alice, `/v1/training-jobs/${j.id}`)).json<{
        model: string;
        sweep: string | null;
        spec: { optimizer: { lr: number; momentum: number }; epochs: number };
        price: { reserved_cents: number };
      }>(),
    ),
  );
  assert.equal(lrJob!.sweep, sweep.id);
  assert.equal(lrJob!.spec.optimizer.lr, 0.03);
  assert.equal(lrJob!.spec.optimizer.momentum, (spec.optimizer as { momentum: number }).momentum);
  assert.equal(lrJob!.model, model);
  assert.equal(modelJob!.model, otherModel);
  assert.equal(modelJob!.spec.epochs, 2);
  assert.equal(lrJob!.price.reserved_cents + modelJob!.price.reserved_cents, sweep.price.quoted_cents);

  const replay = await post(alice, "/v1/training-jobs/sweeps", body, { "idempotency-key": "sweep-1" });
  assert.equal(replay.statusCode, 201);
  assert.equal(replay.headers["idempotent-replayed"], "true");
  assert.equal(replay.json<SweepView>().id, sweep.id);
  assert.deepEqual(await balance(alice), afterCreate);
  expectApiError(
    await post(alice, "/v1/training-jobs/sweeps", base({ variants: [{}] }), { "idempotency-key": "sweep-1" }),
    409,
    "idempotency_key_reused",
  );
  await post(alice, `/v1/training-jobs/sweeps/${sweep.id}/cancel`, {});
});

test("the summary counts the jobs, ranks the succeeded ones by the objective, and adds up the cost", async () => {
  const sweep = await createSweep(alice, base({ grid: { "optimizer.lr": [0.01, 0.02, 0.04] } }));
  const ids = sweep.jobs.map((j) => j.id);
  await recordEpoch(t, ids[0]!, { loss: 0.5, accuracy: 0.8 });
  await recordEpoch(t, ids[1]!, { loss: 0.3, accuracy: 0.85 });
  await recordEpoch(t, ids[2]!, { loss: 0.1, accuracy: 0.95 });
  await succeed(ids[0]!);
  await succeed(ids[1]!);
  const midway = (await get(alice, `/v1/training-jobs/sweeps/${sweep.id}`)).json<SweepView>();
  assert.equal(midway.status, "running");
  assert.deepEqual(midway.counts, {
    queued: 1,
    running: 0,
    verifying: 0,
    succeeded: 2,
    failed: 0,
    cancelled: 0,
  });
  // The third job's loss is lower, but it has not succeeded: the best is a verified model.
  assert.deepEqual(midway.best, { id: ids[1], settings: { "optimizer.lr": 0.02 }, objective_value: 0.3 });
  assert.deepEqual(
    midway.jobs.map((j) => j.objective_value),
    [0.5, 0.3, 0.1],
  );
  const quoted = await Promise.all(
    ids.map(async (id) =>
      (await get(alice, `/v1/training-jobs/${id}`)).json<{ price: { quoted_cents: number } }>(),
    ),
  );
  assert.equal(midway.price.charged_cents, quoted[0]!.price.quoted_cents + quoted[1]!.price.quoted_cents);
  assert.equal(midway.price.reserved_cents, quoted[2]!.price.quoted_cents);

  await failJob(t, ids[2]!, "worker_failed");
  const ended = (await get(alice, `/v1/training-jobs/sweeps/${sweep.id}`)).json<SweepView>();
  assert.equal(ended.status, "completed");
  assert.equal(ended.counts.failed, 1);
  assert.equal(ended.price.reserved_cents, 0);

  const byAccuracy = await createSweep(
    alice,
    base({ variants: [{ seed: 1 }, { seed: 2 }], objective: { metric: "val_accuracy" } }),
  );
  assert.deepEqual(byAccuracy.objective, { metric: "val_accuracy", goal: "maximize" });
  await recordEpoch(t, byAccuracy.jobs[0]!.id, { loss: 0.2, accuracy: 0.9 });
  // A worker that reports no epoch while training still delivers every epoch with the model.
  const finalEpoch = { epoch: 0, last_step: 20, train_samples: 1440, train_loss: 0.3, train_accuracy: null };
  await t.database.db.trainingJob.update({
    where: { id: byAccuracy.jobs[1]!.id },
    data: {
      resultMetrics: {
        total_steps: 20,
        epochs: [{ ...finalEpoch, val_loss: 0.3, val_accuracy: 0.93, steps_per_second: 40 }],
      },
    },
  });
  await succeed(byAccuracy.jobs[0]!.id);
  await succeed(byAccuracy.jobs[1]!.id);
  const best = (await get(alice, `/v1/training-jobs/sweeps/${byAccuracy.id}`)).json<SweepView>().best;
  assert.deepEqual(best, { id: byAccuracy.jobs[1]!.id, settings: { seed: 2 }, objective_value: 0.93 });

  const listed = (await get(alice, "/v1/training-jobs/sweeps?limit=1")).json<{
    data: SweepView[];
    has_more: boolean;
  }>();
  assert.equal(listed.data[0]!.id, byAccuracy.id);
  assert.equal(listed.data[0]!.best?.id, best?.id);
  assert.equal(listed.has_more, true);
  const next = (await get(alice, `/v1/training-jobs/sweeps?limit=1&after=${byAccuracy.id}`)).json<{
    data: SweepView[];
  }>();
  assert.equal(next.data[0]!.id, sweep.id);
});

test("the sweep's events are every job's, and its stream ends once every job has ended", async () => {
  const sweep = await createSweep(alice, base({ grid: { seed: [1, 2] } }));
  const [a, b] = sweep.jobs.map((j) => j.id);
  await succeed(a!);
  await failJob(t, b!, "worker_failed");
  const page = (await get(alice, `/v1/training-jobs/sweeps/${sweep.id}/events`)).json<{
    data: Array<{ type: string; job: string }>;
  }>();
  assert.deepEqual(page.data.map((e) => `${e.job === a ? "a" : "b"}:${e.type}`).sort(), [
    "a:job.created",
    "a:job.succeeded",
    "b:job.created",
    "b:job.failed",
  ]);
  const stream = await get(alice, `/v1/training-jobs/sweeps/${sweep.id}/events`, {
    accept: "text/event-stream",
  });
  assert.equal(stream.statusCode, 200);
  const frames = stream.body.trim().split("\n\n");
  assert.equal(frames.length, 4);
  // Resumed after the last event of an ended sweep, the stream ends at once with nothing.
  const lastId = /^id: (\d+)$/m.exec(frames.at(-1)!)![1]!;
  const resumed = await get(alice, `/v1/training-jobs/sweeps/${sweep.id}/events`, {
    accept: "text/event-stream",
    "last-event-id": lastId,
  });
  assert.equal(resumed.body.trim(), "");
  expectApiError(await get(bob, `/v1/training-jobs/sweeps/${sweep.id}/events`), 404, "resource_missing");
});

test("cancel stops the jobs not finished and releases their credits; the ended ones stay as they are", async () => {
  const before = await balance(alice);
  const sweep = await createSweep(alice, base({ grid: { seed: [1, 2, 3] } }));
  const [done] = sweep.jobs.map((j) => j.id);
  await succeed(done!);
  expectApiError(await post(bob, `/v1/training-jobs/sweeps/${sweep.id}/cancel`, {}), 404, "resource_missing");
  const res = await post(alice, `/v1/training-jobs/sweeps/${sweep.id}/cancel`, {});
  assert.equal(res.statusCode, 200, res.body);
  const cancelled = res.json<SweepView>();
  assert.equal(cancelled.status, "cancelled");
  assert.ok(cancelled.cancelled_at);
  assert.deepEqual(cancelled.counts, {
    queued: 0,
    running: 0,
    verifying: 0,
    succeeded: 1,
    failed: 0,
    cancelled: 2,
  });
  assert.equal(cancelled.price.reserved_cents, 0);
  const afterCancel = await balance(alice);
  assert.equal(afterCancel.reserved_cents, before.reserved_cents);
  assert.equal(afterCancel.available_cents, before.available_cents - cancelled.price.charged_cents);
  const again = expectApiError(
    await post(alice, `/v1/training-jobs/sweeps/${sweep.id}/cancel`, {}),
    409,
    "sweep_not_cancellable",
  );
  assert.match(again.message, /nothing to cancel/);
  expectApiError(await get(bob, `/v1/training-jobs/sweeps/${sweep.id}`), 404, "resource_missing");
  expectApiError(await get(alice, "/v1/training-jobs/sweeps/sweep_unknown"), 404, "resource_missing");
});
