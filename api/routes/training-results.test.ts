// What a user takes away from a finished job besides the ONNX model: its weights as safetensors
// keyed by the initializer names (loaded back into the PyTorch module the model was exported from,
// when Debian's python3-torch is installed), and each checkpoint's bytes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import { modelWeightsAsSafetensors } from "../../protocol/model-weights.ts";
import { sha256Hex } from "../../protocol/signed-messages.ts";
import { type SignedUp, signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { signedReceipt, succeedJob } from "../../test/support/finished-jobs.ts";
import { uploadMlpFixtures } from "../../test/support/uploads.ts";
import { readSafetensors } from "../../worker-runtime/train/data/safetensors.ts";
import { FilesystemBlobStore } from "../services/blobs.ts";
import { taskIdOf } from "../services/job-dispatch.ts";

const root = new URL("../..", import.meta.url).pathname;
const fixture = (path: string) => readFileSync(join(root, "worker-runtime/fixtures", path));
/** The trained model the job delivers: the CNN, whose BatchNorm running statistics are initializers too. */
const trained = fixture("cnn.onnx");

let t: TestApp;
let alice: SignedUp;
let bob: SignedUp;
let jobId: string;
let scratch: string;

before(async () => {
  t = await createTestApp();
  alice = await signUp(t.app);
  bob = await signUp(t.app);
  await t.services.ledger.topUp(alice.organizationId, 10_000, "test:alice-credit");
  const job = await t.services.jobs.create(alice.organizationId, {
    ...(await uploadMlpFixtures(t.app, alice)),
    spec: JSON.parse(fixture("mlp.spec.json").toString("utf8")),
    verification: "basic",
  });
  jobId = job.id;
  scratch = mkdtempSync(join(tmpdir(), "veritrain-results-"));
});
after(async () => {
  await t.close();
  rmSync(scratch, { recursive: true, force: true });
});

const get = (user: SignedUp, url: string) => t.app.inject({ method: "GET", url, headers: user.headers });

test("checkpoints download as the bytes whose hash is their leaf, for the job's organization only", async () => {
  const blobs = new FilesystemBlobStore(join(t.config.dataDir, "blobs"));
  const contents = [Buffer.from("checkpoint at step 10"), Buffer.from("checkpoint at step 20")];
  await t.database.db.task.create({
    data: { id: taskIdOf(jobId), jobId, attempt: 0, escrowCents: 1n, escrowPlanck: "1", usdPerVt: "0.01" },
  });
  for (const [i, content] of contents.entries()) {
    const staged = await blobs.stage(Readable.from([content]), 1024);
    await staged.commit();
    await t.database.db.checkpoint.create({
      data: {
        taskId: taskIdOf(jobId),
        step: (i + 1) * 10,
        sha256: staged.sha256,
        sizeBytes: BigInt(content.length),
      },
    });
  }
  const res = await get(alice, `/v1/training-jobs/${jobId}/checkpoints/20/content`);
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.rawPayload, contents[1]);
  assert.equal(res.headers["x-content-sha256"], sha256Hex(contents[1]!));
  const listed = (await get(alice, `/v1/training-jobs/${jobId}/checkpoints`)).json<{
    data: Array<{ sha256: string }>;
  }>();
  assert.equal(listed.data[1]!.sha256, res.headers["x-content-sha256"]);

  expectApiError(
    await get(alice, `/v1/training-jobs/${jobId}/checkpoints/15/content`),
    404,
    "resource_missing",
  );
  expectApiError(
    await get(bob, `/v1/training-jobs/${jobId}/checkpoints/20/content`),
    404,
    "resource_missing",
  );
  expectApiError(
    await get(alice, `/v1/training-jobs/${jobId}/checkpoints/last/content`),
    400,
    "parameter_invalid",
  );
});

test("the trained weights download as safetensors keyed by the ONNX initializer names, with the same values", async () => {
  expectApiError(
    await get(alice, `/v1/training-jobs/${jobId}/model?format=safetensors`),
    409,
    "model_not_ready",
  );
  await succeedJob(t, jobId, trained, await signedReceipt(t, jobId, trained));
  expectApiError(await get(alice, `/v1/training-jobs/${jobId}/model?format=pt`), 400, "parameter_invalid");

  const onnx = await get(alice, `/v1/training-jobs/${jobId}/model?format=onnx`);
  assert.deepEqual(onnx.rawPayload, trained);
  const res = await get(alice, `/v1/training-jobs/${jobId}/model?format=safetensors`);
  assert.equal(res.statusCode, 200, res.body);
  assert.match(String(res.headers["content-disposition"]), /\.safetensors"$/);
  assert.deepEqual(
    res.rawPayload,
    Buffer.from(modelWeightsAsSafetensors(trained)),
    "the SDK builds the same file",
  );

  const weights = readSafetensors(res.rawPayload);
  assert.deepEqual(
    [...weights.keys()],
    [
      "features.0.weight",
      "features.0.bias",
      "features.1.weight",
      "features.1.bias",
      "features.1.running_mean",
      "features.1.running_var",
      "features.4.weight",
      "features.4.bias",
      "features.5.weight",
      "features.5.bias",
      "features.5.running_mean",
      "features.5.running_var",
      "head.weight",
      "head.bias",
    ],
  );
  const conv = weights.get("features.4.weight")!;
  assert.equal(conv.dtype, "float32");
  assert.deepEqual(conv.dims, [16, 8, 3, 3]);
  // The raw bytes sit in the ONNX file as they do in the safetensors one.
  const raw = Buffer.from(conv.data.buffer, conv.data.byteOffset, conv.data.byteLength);
  assert.ok(trained.includes(raw));
});

const python = "/usr/bin/python3";
const haveTorch = spawnSync(python, ["-c", "import torch, onnx, sklearn"]).status === 0;

test("PyTorch loads the safetensors into the module the model was exported from", {
  skip: haveTorch ? false : "needs Debian's python3-torch, python3-onnx and python3-sklearn",
}, async () => {
  const res = await get(alice, `/v1/training-jobs/${jobId}/model?format=safetensors`);
  assert.equal(res.statusCode, 200, res.body);
  const path = join(scratch, "weights.safetensors");
  writeFileSync(path, res.rawPayload);
  const run = spawnSync(
    python,
    [
      join(root, "test/support/torch_loads_safetensors.py"),
      path,
      join(root, "worker-runtime/fixtures/cnn.onnx"),
      "Cnn",
    ],
    { encoding: "utf8" },
  );
  assert.equal(run.status, 0, `${run.stderr}\n${run.stdout}`);
  const report = JSON.parse(run.stdout) as { loaded: string[]; missing: string[]; mismatched: string[] };
  assert.equal(report.loaded.length, 14);
  // BatchNorm fills in its own num_batches_tracked: nothing the module needs is missing.
  assert.deepEqual(report.missing, []);
  assert.deepEqual(report.mismatched, []);
});
