// `init_from`: a job that starts from the weights of a checkpoint of a succeeded job, over HTTP.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { after, before, describe, it } from "node:test";
import { decodeCheckpoint } from "../../protocol/checkpoint.ts";
import { sha256Hex } from "../../protocol/signed-messages.ts";
import { type SignedUp, signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { signedReceipt, succeedJob } from "../../test/support/finished-jobs.ts";
import { uploadFile, uploadMlpFixtures } from "../../test/support/uploads.ts";
import { loadModel } from "../../worker-runtime/onnx/model.ts";
import { onnx } from "../../worker-runtime/onnx/proto.ts";
import { loadFixture } from "../../worker-runtime/train/fixtures.ts";
import { deliveredModel, train } from "../../worker-runtime/train/trainer.ts";
import { FilesystemBlobStore } from "./blobs.ts";
import { taskIdOf } from "./job-dispatch.ts";
import type { JobView } from "./job-reads.ts";

const mlp = loadFixture("mlp");
const { epochs: _epochs, ...baseSpec } = mlp.spec;
const spec = { ...baseSpec, max_steps: 10, checkpoint_every: 5 };

let t: TestApp;
let alice: SignedUp;
let bob: SignedUp;
let files: { model: string; dataset: string };
let finished: string;
/** The finished job's checkpoints, by step, as a worker trained them. */
const checkpoints = new Map<number, Uint8Array>();

async function create(user: SignedUp, body: Record<string, unknown>) {
  return t.app.inject({
    method: "POST",
    url: "/v1/training-jobs",
    headers: user.headers,
    payload: { ...files, spec, verification: "basic", ...body },
  });
}

before(async () => {
  t = await createTestApp();
  [alice, bob] = [await signUp(t.app), await signUp(t.app)];
  files = await uploadMlpFixtures(t.app, alice);
  await t.services.ledger.topUp(alice.organizationId, 100_000, "test:alice-credit");

  // A job that ran to success, with the checkpoints of a real run of its spec stored as a worker's.
  const dir = mkdtempSync(join(tmpdir(), "vt-init-from-"));
  try {
    const run = await train({ model: mlp.model, dataset: mlp.dataset, spec, checkpointDir: dir });
    for (const { step } of run.checkpoints) {
      checkpoints.set(step, readFileSync(join(dir, `step-${String(step).padStart(9, "0")}.ckpt`)));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const created = await create(alice, {});
  assert.equal(created.statusCode, 201, created.body);
  finished = (created.json() as JobView).id;
  const blobs = new FilesystemBlobStore(join(t.config.dataDir, "blobs"));
  await t.database.db.task.create({
    data: {
      id: taskIdOf(finished),
      jobId: finished,
      escrowCents: 1n,
      escrowPlanck: "1",
      usdPerVt: "0.01",
    },
  });
  for (const [step, bytes] of checkpoints) {
    const staged = await blobs.stage(Readable.from([Buffer.from(bytes)]), bytes.byteLength);
    await staged.commit();
    await t.database.db.checkpoint.create({
      data: { taskId: taskIdOf(finished), step, sha256: staged.sha256, sizeBytes: BigInt(bytes.byteLength) },
    });
  }
  const trained = deliveredModel(mlp.model, checkpoints.get(10)!);
  await succeedJob(t, finished, trained, await signedReceipt(t, finished, trained));
});
after(() => t.close());

describe("init_from", () => {
  it("starts a job from a checkpoint's weights: the model it trains is the request's with those weights", async () => {
    const res = await create(alice, { init_from: { job: finished, step: 5 } });
    assert.equal(res.statusCode, 201, res.body);
    const job = res.json() as JobView;
    const checkpoint = checkpoints.get(5)!;
    assert.deepEqual(job.init_from, { job: finished, step: 5, checkpoint_sha256: sha256Hex(checkpoint) });
    assert.equal(job.model, files.model, "the user's own model file is left as it was");

    const row = await t.database.db.trainingJob.findUniqueOrThrow({ where: { id: job.id } });
    const derivedSha256 = (row.initFrom as { model_sha256: string }).model_sha256;
    const blobs = new FilesystemBlobStore(join(t.config.dataDir, "blobs"));
    const derived = new Uint8Array(await buffer(await blobs.read(derivedSha256)));
    assert.equal(sha256Hex(derived), derivedSha256);
    // Every trained weight of the derived model is the checkpoint's, bit for bit.
    const weights = loadModel(derived).initializers;
    const params = decodeCheckpoint(checkpoint).params;
    assert.ok(params.size > 0);
    const bytesOf = ({ data }: { data: ArrayBufferView }) =>
      Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    for (const [name, tensor] of params) assert.deepEqual(bytesOf(weights.get(name)!), bytesOf(tensor), name);
    assert.notEqual(derivedSha256, sha256Hex(mlp.model));

    const read = await t.app.inject({
      method: "GET",
      url: `/v1/training-jobs/${job.id}`,
      headers: alice.headers,
    });
    assert.deepEqual((read.json() as JobView).init_from, job.init_from);
  });

  it("takes the last checkpoint when no step is given", async () => {
    const res = await create(alice, { init_from: { job: finished } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal((res.json() as JobView).init_from?.step, 10);
  });

  it("refuses a step without a checkpoint, naming the steps there are", async () => {
    const error = expectApiError(
      await create(alice, { init_from: { job: finished, step: 7 } }),
      400,
      "init_from_invalid",
    );
    assert.equal(error.param, "init_from.step");
    assert.match(error.message, /no checkpoint at step 7; its checkpoints are at steps 0, 5, 10/);
  });

  it("refuses a job that has not succeeded, and another organization's job as unknown", async () => {
    const pending = (await create(alice, {})).json() as JobView;
    const error = expectApiError(
      await create(alice, { init_from: { job: pending.id } }),
      400,
      "init_from_invalid",
    );
    assert.match(error.message, /is queued: only a succeeded job's checkpoints/);
    const bobFiles = await uploadMlpFixtures(t.app, bob);
    const res = await t.app.inject({
      method: "POST",
      url: "/v1/training-jobs",
      headers: bob.headers,
      payload: { ...bobFiles, spec, verification: "basic", init_from: { job: finished } },
    });
    expectApiError(res, 404, "resource_missing");
  });

  it("refuses a model of another graph", async () => {
    const cnn = loadFixture("cnn");
    const other = await uploadFile(t.app, alice, "model", "cnn.onnx", cnn.model);
    const dataset = await uploadFile(t.app, alice, "dataset", cnn.dataset.fileName, cnn.dataset.bytes);
    const res = await t.app.inject({
      method: "POST",
      url: "/v1/training-jobs",
      headers: alice.headers,
      payload: { model: other, dataset, spec: cnn.spec, verification: "basic", init_from: { job: finished } },
    });
    const error = expectApiError(res, 400, "init_from_invalid");
    assert.equal(error.param, "model");
    assert.match(error.message, /not the graph job/);
  });

  it("starts every job of a sweep from the checkpoint, and names the variant whose model is another graph", async () => {
    const sweep = (base: Record<string, unknown>) =>
      t.app.inject({
        method: "POST",
        url: "/v1/training-jobs/sweeps",
        headers: alice.headers,
        payload: { ...files, spec, verification: "basic", init_from: { job: finished, step: 5 }, ...base },
      });
    const created = await sweep({ grid: { "optimizer.lr": [0.01, 0.02] } });
    assert.equal(created.statusCode, 201, created.body);
    const jobs = (created.json() as { jobs: { id: string }[] }).jobs;
    assert.equal(jobs.length, 2);
    const expected = { job: finished, step: 5, checkpoint_sha256: sha256Hex(checkpoints.get(5)!) };
    for (const { id } of jobs) {
      const read = await t.app.inject({
        method: "GET",
        url: `/v1/training-jobs/${id}`,
        headers: alice.headers,
      });
      assert.deepEqual((read.json() as JobView).init_from, expected, id);
    }

    // The same network with one parameter renamed: it trains on the same data, but is another graph.
    const proto = onnx.ModelProto.decode(mlp.model);
    const weight = proto.graph!.initializer![0]!;
    const name = weight.name!;
    weight.name = `${name}_renamed`;
    for (const node of proto.graph!.node!)
      node.input = node.input!.map((i) => (i === name ? weight.name! : i));
    const renamed = onnx.ModelProto.encode(proto).finish();
    const other = await uploadFile(t.app, alice, "model", "renamed.onnx", renamed);
    const before = await t.database.db.trainingJob.count({ where: { organizationId: alice.organizationId } });
    const error = expectApiError(await sweep({ variants: [{}, { model: other }] }), 400, "init_from_invalid");
    assert.equal(error.param, "variants.1.model");
    assert.match(error.message, /^Job 2 of 2 \(model="file_[^"]+"\): model file_\w+ is not the graph job/);
    assert.equal(
      await t.database.db.trainingJob.count({ where: { organizationId: alice.organizationId } }),
      before,
      "a refused sweep creates none of its jobs",
    );
  });
});
