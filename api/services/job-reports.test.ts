import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { type SignedUp, signUp } from "../../test/support/accounts.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { uploadMlpFixtures } from "../../test/support/uploads.ts";
import { taskIdOf } from "./job-dispatch.ts";
import { JobReports } from "./job-reports.ts";
import { JobSettlement } from "./job-settlement.ts";
import { WebhookOutbox } from "./webhooks/outbox.ts";

let testApp: TestApp;
let alice: SignedUp;
let reports: JobReports;
let request: { model: string; dataset: string; spec: unknown; verification: "basic" };

before(async () => {
  testApp = await createTestApp();
  alice = await signUp(testApp.app);
  const spec = JSON.parse(
    (await readFile(new URL("../../worker-runtime/fixtures/mlp.spec.json", import.meta.url))).toString(
      "utf8",
    ),
  );
  request = { ...(await uploadMlpFixtures(testApp.app, alice)), spec, verification: "basic" };
  await testApp.services.ledger.topUp(alice.organizationId, 10_000, "test:alice-credit");
  const { jobEvents: events, ledger } = testApp.services;
  const db = testApp.database.db;
  reports = new JobReports({
    db,
    events,
    settlement: new JobSettlement({ db, ledger, events, webhooks: new WebhookOutbox(undefined) }),
  });
});
after(() => testApp.close());

/** A created job whose task is on chain task `chainTaskId`, held by `worker`. */
async function jobOnChain(chainTaskId: bigint, worker: string): Promise<{ jobId: string; taskId: string }> {
  const job = await testApp.services.jobs.create(alice.organizationId, request);
  const taskId = taskIdOf(job.id);
  await testApp.database.db.task.create({
    data: {
      id: taskId,
      jobId: job.id,
      chainTaskId,
      status: "assigned",
      workerAddress: worker,
      escrowCents: BigInt(job.price.reserved_cents),
      escrowPlanck: "1000000000000",
      usdPerVt: "0.01",
    },
  });
  return { jobId: job.id, taskId };
}

const status = async (jobId: string) => (await testApp.services.jobs.get(alice.organizationId, jobId)).status;
const eventTypes = async (jobId: string) =>
  (await testApp.services.jobEvents.list(jobId, 0, 100)).map((e) => e.type);

test("a worker that gives up after its evidence was refused leaves the task to be re-assigned, not the job failed", async () => {
  const { jobId, taskId } = await jobOnChain(901n, "5Cheat");
  await reports.evidenceRefused(
    taskId,
    "5Cheat",
    "the checkpoint for step 20 is not canonical checkpoint bytes",
  );
  await reports.trainingAbandoned(taskId);
  assert.equal(await status(jobId), "queued");
  assert.deepEqual((await eventTypes(jobId)).slice(-2), ["training.evidence_refused", "training.abandoned"]);
});

test("a refusal of another worker's evidence does not spare the one that gave up now", async () => {
  const { jobId, taskId } = await jobOnChain(902n, "5Second");
  await reports.evidenceRefused(taskId, "5First", "model_mismatch");
  await reports.trainingAbandoned(taskId);
  assert.equal(await status(jobId), "failed");
  const job = await testApp.services.jobs.get(alice.organizationId, jobId);
  assert.match(job.failure_reason ?? "", /^worker_failed: /);
  assert.equal(job.price.charged_cents, 0);
});
