// Deleted files' bytes: hidden at once, removed by the sweep once no live file shares them and no
// unfinished job trains on them, never before the grace period.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { signUp } from "../../test/support/accounts.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { uploadFile } from "../../test/support/uploads.ts";
import { DeletedBlobs } from "./deleted-blobs.ts";

const HOUR_MS = 60 * 60 * 1000;
const fixture = (path: string) => readFile(new URL(`../../worker-runtime/fixtures/${path}`, import.meta.url));

describe("deleted files' bytes", () => {
  let t: TestApp;
  let sweeper: DeletedBlobs;

  before(async () => {
    t = await createTestApp();
    sweeper = new DeletedBlobs(t.database.db, t.services.files.blobs, (error) => {
      throw error;
    });
  });

  after(async () => {
    await sweeper.stop();
    await t.close();
  });

  it("removes them once no live file shares them and no unfinished job needs them", async () => {
    const alice = await signUp(t.app);
    const bob = await signUp(t.app);
    const model = await fixture("mlp.onnx");
    const dataset = await fixture("data/digits.safetensors");
    const csv = new TextEncoder().encode("x0,x1,label\n1,2,0\n3,4,1\n");
    const modelId = await uploadFile(t.app, alice, "model", "mlp.onnx", model);
    const datasetId = await uploadFile(t.app, alice, "dataset", "digits.safetensors", dataset);
    const csvId = await uploadFile(t.app, alice, "dataset", "small.csv", csv);
    // Bob uploads the same digits: the store keeps one copy, shared.
    const bobsDataset = await uploadFile(t.app, bob, "dataset", "mine.safetensors", dataset);
    const job = await t.database.db.trainingJob.create({
      data: {
        id: "job_sweep",
        organizationId: alice.organizationId,
        modelFileId: modelId,
        datasetFileId: datasetId,
        spec: {},
        verificationLevel: "basic",
        status: "running",
        quotedCents: 1n,
        reservedCents: 1n,
        flopsPerStep: 1n,
        totalSteps: 1,
      },
    });
    const files = await t.database.db.file.findMany({ where: { id: { in: [modelId, datasetId, csvId] } } });
    const sha = Object.fromEntries(files.map((f) => [f.id, f.sha256]));
    for (const id of [modelId, datasetId, csvId]) {
      const res = await t.app.inject({ method: "DELETE", url: `/v1/files/${id}`, headers: alice.headers });
      assert.equal(res.statusCode, 200, res.body);
    }
    const stored = (id: string) => t.services.files.blobs.has(sha[id]!);

    assert.deepEqual(await sweeper.sweep(new Date()), [], "nothing goes within the grace period");
    assert.equal(await stored(csvId), true);

    const later = new Date(Date.now() + HOUR_MS);
    assert.deepEqual(await sweeper.sweep(later), [sha[csvId]]);
    assert.equal(await stored(csvId), false, "a deleted file nothing needs loses its bytes");
    assert.equal(await stored(modelId), true, "a running job still trains on the model");
    assert.equal(await stored(datasetId), true, "Bob's live file shares the dataset's bytes");

    await t.database.db.trainingJob.update({ where: { id: job.id }, data: { status: "cancelled" } });
    const res = await t.app.inject({
      method: "DELETE",
      url: `/v1/files/${bobsDataset}`,
      headers: bob.headers,
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(new Set(await sweeper.sweep(later)), new Set([sha[modelId], sha[datasetId]]));
    assert.equal(await stored(modelId), false);
    assert.equal(await stored(datasetId), false);
    assert.deepEqual(await sweeper.sweep(later), [], "a purged file is not swept again");

    // The same content uploaded again is stored again, whole.
    const again = await uploadFile(t.app, alice, "dataset", "small.csv", csv);
    const content = await t.app.inject({
      method: "GET",
      url: `/v1/files/${again}/content`,
      headers: alice.headers,
    });
    assert.equal(content.statusCode, 200);
    assert.equal(content.body, new TextDecoder().decode(csv));
  });
});
