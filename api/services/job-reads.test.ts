import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { checkpointRoot } from "../../protocol/receipt.ts";
import { type SignedUp, signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { uploadMlpFixtures } from "../../test/support/uploads.ts";
import { newId } from "../ids.ts";
import { taskIdOf } from "./job-dispatch.ts";
import { type JobView, jobView } from "./job-reads.ts";
import { JobReports } from "./job-reports.ts";
import { JobSettlement } from "./job-settlement.ts";
import { WebhookOutbox } from "./webhooks/outbox.ts";

// Prisma reads the TIMESTAMP columns as UTC; a read that let the process's zone in (as `pg`'s
// own timestamp parsing does) would differ in a zone this far from UTC.
process.env.TZ = "Pacific/Chatham";

const fixture = (path: string) => readFile(new URL(`../../worker-runtime/fixtures/${path}`, import.meta.url));

let testApp: TestApp;
let alice: SignedUp;
let bob: SignedUp;
let request: { model: string; dataset: string; spec: unknown; verification: "standard" };

before(async () => {
  testApp = await createTestApp();
  alice = await signUp(testApp.app);
  bob = await signUp(testApp.app);
  request = {
    ...(await uploadMlpFixtures(testApp.app, alice)),
    spec: JSON.parse((await fixture("mlp.spec.json")).toString("utf8")),
    verification: "standard",
  };
  await testApp.services.ledger.topUp(alice.organizationId, 10_000, "test:alice-credit");
});
after(() => testApp.close());

/** The job as Jobs.get read it through Prisma before the pg read: the row, then its last checkpoint. */
async function prismaView(organizationId: string, id: string): Promise<JobView> {
  const db = testApp.database.db;
  const row = await db.trainingJob.findFirstOrThrow({ where: { id, organizationId } });
  const last = await db.checkpoint.findFirst({
    where: { task: { jobId: id } },
    orderBy: { step: "desc" },
    select: { step: true },
  });
  return jobView(row, last?.step ?? 0);
}

/** A job's place in the line is read apart, and tested apart (job-queue.test.ts): the rest must match. */
function withoutLine({ queue_position: _place, estimated_start_at: _start, ...view }: JobView): string {
  return JSON.stringify(view);
}

/** Reads the job through the service and the route, and checks both against the Prisma read. */
async function readBothWays(id: string): Promise<JobView> {
  const viaPrisma = withoutLine(await prismaView(alice.organizationId, id));
  const viaService = await testApp.services.jobs.get(alice.organizationId, id);
  assert.equal(withoutLine(viaService), viaPrisma);
  const res = await testApp.app.inject({
    method: "GET",
    url: `/v1/training-jobs/${id}`,
    headers: alice.headers,
  });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(withoutLine(JSON.parse(res.body) as JobView), viaPrisma);
  return viaService;
}

test("the pg read answers the Prisma read's JSON through a job's life, counting every attempt's checkpoints", async () => {
  const { jobs, jobEvents: events, ledger } = testApp.services;
  const db = testApp.database.db;
  // What the node gateway reports to, here without a chain: the tasks below are not on one.
  const reports = new JobReports({
    db,
    events,
    settlement: new JobSettlement({ db, ledger, events, webhooks: new WebhookOutbox(undefined) }),
  });
  const created = await jobs.create(alice.organizationId, request);
  assert.equal(withoutLine(await readBothWays(created.id)), withoutLine(created));
  const listed = (await jobs.list(alice.organizationId, 10)).data.find((job) => job.id === created.id);
  assert.equal(JSON.stringify(listed), JSON.stringify(created));

  // A first attempt that stored two checkpoints, and a second one that resumed and stored a third.
  const attempts = [taskIdOf(created.id), `${taskIdOf(created.id)}_1`];
  await db.task.createMany({
    data: attempts.map((id, attempt) => ({
      id,
      jobId: created.id,
      attempt,
      escrowCents: BigInt(created.price.reserved_cents),
      escrowPlanck: "1000000000000",
      usdPerVt: "0.01",
    })),
  });
  const leaves = [1, 2, 3].map((n) => String(n).repeat(64));
  await reports.taskStarted(attempts[0]!, "worker-a");
  await reports.checkpointStored(attempts[1]!, { step: 270, sha256: leaves[2]!, sizeBytes: 4096 });
  for (const [i, step] of [90, 180].entries()) {
    await reports.checkpointStored(attempts[0]!, { step, sha256: leaves[i]!, sizeBytes: 4096 });
  }
  const running = await readBothWays(created.id);
  assert.equal(running.status, "running");
  assert.equal(running.steps_completed, 270);

  await reports.trainingCompleted(attempts[1]!, {
    modelSha256: "ab".repeat(32),
    checkpointRoot: checkpointRoot(leaves),
    leaves,
    metrics: {},
    workerAddress: "worker-b",
    commitmentSignature: "00",
  });
  const verifying = await readBothWays(created.id);
  assert.equal(verifying.status, "verifying");
  assert.equal(verifying.result.model_sha256, "ab".repeat(32));

  await reports.taskFailed(attempts[1]!, "invalid_delivery", false);
  const failed = await readBothWays(created.id);
  assert.equal(failed.status, "failed");
  assert.equal(
    failed.failure_reason,
    "invalid_delivery: the worker delivered results that do not agree with each other",
  );
  assert.ok(failed.price.charged_cents !== null && failed.price.charged_cents > 0);
  assert.ok(failed.finished_at !== null);
});

test("another organization's job, an unknown id and a malformed id answer 404", async () => {
  const { id } = await testApp.services.jobs.create(alice.organizationId, request);
  const cases: Array<[SignedUp, string]> = [
    [bob, id],
    [alice, newId("job")],
    [alice, "job_unknown"],
    [alice, id.replace("job_", "file_")],
    [alice, `${id}' OR '1'='1`],
  ];
  for (const [caller, jobId] of cases) {
    const res = await testApp.app.inject({
      method: "GET",
      url: `/v1/training-jobs/${encodeURIComponent(jobId)}`,
      headers: caller.headers,
    });
    assert.equal(expectApiError(res, 404, "resource_missing").param, "id");
  }
  assert.equal((await readBothWays(id)).id, id, "the owner still reads it");
});

test("concurrent reads over every pooled connection answer the same job", async () => {
  const created = await testApp.services.jobs.create(alice.organizationId, request);
  // More readers than the pool has connections, so each connection prepares the statement; on
  // embedded Postgres (npm test without DATABASE_URL) they share one session.
  const views = await Promise.all(
    Array.from({ length: 16 }, () => testApp.services.jobs.get(alice.organizationId, created.id)),
  );
  for (const view of views) assert.equal(withoutLine(view), withoutLine(created));
});

test("each epoch's metrics join the job's history once and stream as training.epoch", async () => {
  const { jobs, jobEvents: events, ledger } = testApp.services;
  const db = testApp.database.db;
  const reports = new JobReports({
    db,
    events,
    settlement: new JobSettlement({ db, ledger, events, webhooks: new WebhookOutbox(undefined) }),
  });
  const created = await jobs.create(alice.organizationId, request);
  assert.deepEqual(created.metrics, []);
  const taskId = taskIdOf(created.id);
  await db.task.create({
    data: { id: taskId, jobId: created.id, attempt: 0, escrowCents: 1n, escrowPlanck: "1", usdPerVt: "0.01" },
  });
  const epoch = (n: number) => ({
    epoch: n,
    last_step: 45 * (n + 1),
    train_samples: 1440,
    train_loss: 1 / (n + 1),
    train_accuracy: 0.5 + n / 10,
    val_loss: 1.1 / (n + 1),
    val_accuracy: n === 0 ? null : 0.55,
    steps_per_second: 120,
  });
  const step = { total_steps: 270, loss: 0.5, learning_rate: 0.01, steps_per_second: 120 };
  await reports.progress(taskId, { ...step, step: 45, epoch: epoch(0) });
  // A retried report, or a resumed attempt reporting the same epoch again, adds nothing.
  await reports.progress(taskId, { ...step, step: 45, epoch: epoch(0) });
  await reports.progress(taskId, { ...step, step: 60 });
  await reports.progress(taskId, { ...step, step: 90, epoch: epoch(1) });

  const view = await readBothWays(created.id);
  assert.deepEqual(view.metrics, [epoch(0), epoch(1)]);
  const types = (await events.list(created.id, 0, 100)).map((e) => e.type);
  assert.deepEqual(types, [
    "job.created",
    "training.progress",
    "training.epoch",
    "training.progress",
    "training.progress",
    "training.progress",
    "training.epoch",
  ]);
});
