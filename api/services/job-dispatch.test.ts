// What the dispatcher tells untrusted nodes about a job: blobs by hash and the dataset's format,
// never the user's file names.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import type { ChainBridge } from "../../chain-bridge/index.ts";
import type { TaskProducer } from "../../queue/producers.ts";
import { signUp } from "../../test/support/accounts.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { uploadFile } from "../../test/support/uploads.ts";
import { JobDispatcher } from "./job-dispatch.ts";
import type { JobSettlement } from "./job-settlement.ts";

const fixture = (path: string) => readFile(new URL(`../../worker-runtime/fixtures/${path}`, import.meta.url));
let t: TestApp;

before(async () => {
  t = await createTestApp();
});

after(async () => {
  await t.close();
});

test("nodes get a neutral dataset name that keeps only the format", async () => {
  const alice = await signUp(t.app);
  const model = await uploadFile(t.app, alice, "model", "acme-fraud-model.onnx", await fixture("mlp.onnx"));
  const dataset = await uploadFile(
    t.app,
    alice,
    "dataset",
    "acme-customers-2026-q3.safetensors",
    await fixture("data/digits.safetensors"),
  );
  const db = t.database.db;
  await db.trainingJob.create({
    data: {
      id: "job_named",
      organizationId: alice.organizationId,
      modelFileId: model,
      datasetFileId: dataset,
      spec: {},
      verificationLevel: "basic",
      quotedCents: 1n,
      reservedCents: 1n,
      flopsPerStep: 1n,
      totalSteps: 1,
    },
  });
  const task = await db.task.create({
    data: { id: "task_named", jobId: "job_named", escrowCents: 1n, escrowPlanck: 1, usdPerVt: 1 },
  });
  // workInputs reads the database only; the chain, queues and settlement are never reached.
  const dispatcher = new JobDispatcher({
    db,
    chain: null as unknown as ChainBridge,
    producer: null as unknown as TaskProducer,
    events: t.services.jobEvents,
    settlement: null as unknown as JobSettlement,
  });
  const { inputs } = await dispatcher.workInputs(task);
  assert.equal(inputs.dataset_file_name, "dataset.safetensors");
  assert.doesNotMatch(JSON.stringify(inputs), /acme/);
});
