// Each reported attack, through the real upload route: a small file built to cost gigabytes or
// minutes is refused quickly with a 4xx that says why, while /v1/health keeps answering and the
// process's memory stays flat.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type SignedUp, signUp } from "../../../test/support/accounts.ts";
import { createTestApp, type TestApp } from "../../../test/support/app.ts";
import {
  chainModel,
  overlappingSafetensors,
  reversedChainModel,
  sharedStreamNpz,
  wideCsv,
} from "../../../test/support/hostile-files.ts";
import { multipartBody, uploadFile } from "../../../test/support/uploads.ts";

const MIB = 1 << 20;
/** Far above what a refusal costs, far below what any of these attacks cost unrefused. */
const DEADLINE_MS = 10_000;
const RSS_GROWTH_LIMIT = 256 * MIB;
const HEALTH_LATENCY_LIMIT_MS = 1_000;

let testApp: TestApp;
let alice: SignedUp;

const model = () => readFile(new URL("../../../worker-runtime/fixtures/mlp.onnx", import.meta.url));

before(async () => {
  testApp = await createTestApp();
  alice = await signUp(testApp.app);
  // The inspection worker's first start loads the engine: not a cost the deadlines are about.
  await uploadFile(testApp.app, alice, "model", "mlp.onnx", await model());
});
after(() => testApp.close());

interface Refusal {
  code: string;
  message: string;
  unsupported_operators?: Array<{ op_type: string; nodes: string[] }>;
}

/**
 * Uploads `content` while polling GET /v1/health; fails as soon as the process grows past the
 * RSS limit or the deadline passes without an answer.
 */
async function uploadUnderWatch(purpose: "model" | "dataset", filename: string, content: Uint8Array) {
  const { payload, headers } = await multipartBody([
    ["purpose", purpose],
    ["file", content, filename],
  ]);
  const baseline = process.memoryUsage.rss();
  const started = performance.now();
  let settled = false;
  let slowestHealthMs = 0;
  const upload = testApp.app
    .inject({ method: "POST", url: "/v1/files", payload, headers: { ...headers, ...alice.headers } })
    .finally(() => {
      settled = true;
    });
  const watch = async () => {
    while (!settled) {
      const growth = process.memoryUsage.rss() - baseline;
      assert.ok(
        growth < RSS_GROWTH_LIMIT,
        `RSS grew by ${Math.round(growth / MIB)} MiB inspecting ${filename}`,
      );
      assert.ok(
        performance.now() - started < DEADLINE_MS,
        `no answer for ${filename} within ${DEADLINE_MS} ms`,
      );
      const asked = performance.now();
      const health = await testApp.app.inject({ method: "GET", url: "/v1/health" });
      assert.equal(health.statusCode, 200);
      slowestHealthMs = Math.max(slowestHealthMs, performance.now() - asked);
      await sleep(10);
    }
  };
  const [res] = await Promise.all([upload, watch()]);
  assert.ok(slowestHealthMs < HEALTH_LATENCY_LIMIT_MS, `GET /v1/health took ${slowestHealthMs} ms`);
  const { error } = res.json<{ error?: Refusal }>();
  return { status: res.statusCode, code: "", message: "", ...error };
}

test("an npz whose 30 entries share one deflate stream of 1 GiB is refused before inflating", async () => {
  const refusal = await uploadUnderWatch("dataset", "bomb.npz", sharedStreamNpz(30, 1024));
  assert.equal(refusal.status, 422);
  assert.equal(refusal.code, "invalid_dataset");
  assert.match(refusal.message, /x1\.npy.*overlaps.*x0\.npy/);
});

test("a safetensors file whose 400 tensors all claim the same bytes is refused", async () => {
  const refusal = await uploadUnderWatch(
    "dataset",
    "overlap.safetensors",
    overlappingSafetensors(400, 4 * MIB),
  );
  assert.equal(refusal.status, 422);
  assert.equal(refusal.code, "invalid_dataset");
  assert.match(refusal.message, /overlap/);
});

test("a CSV header of 300,000 columns is refused without a quadratic scan", async () => {
  const refusal = await uploadUnderWatch("dataset", "wide.csv", wideCsv(300_000));
  assert.equal(refusal.status, 422);
  assert.equal(refusal.code, "invalid_dataset");
  assert.match(refusal.message, /300000 columns.*at most/);
});

test("an ONNX graph of 60,000 nodes listed in reverse is refused by its node count", async () => {
  const refusal = await uploadUnderWatch("model", "deep.onnx", reversedChainModel(60_000));
  assert.equal(refusal.status, 422);
  assert.equal(refusal.code, "invalid_model");
  assert.match(refusal.message, /60000 nodes.*at most/);
});

test("operator types named like Object.prototype's members are refused as unsupported", async () => {
  const names = ["constructor", "__proto__", "toString", "hasOwnProperty"];
  const refusal = await uploadUnderWatch("model", "proto.onnx", chainModel(["Relu", ...names]));
  assert.equal(refusal.status, 422);
  assert.equal(refusal.code, "unsupported_operators");
  assert.deepEqual(
    refusal.unsupported_operators,
    names.map((op_type, i) => ({ op_type, nodes: [`r${i + 1}`] })),
  );
});

test("after the attacks the API still inspects and stores a valid upload", async () => {
  const accepted = await uploadUnderWatch("model", "mlp.onnx", await model());
  assert.equal(accepted.status, 201);
});
