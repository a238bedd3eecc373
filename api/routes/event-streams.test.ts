// Event streams hold a connection and a subscription each: one API key may keep only so many open,
// counted across API instances, and a closed stream gives its slot back.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type SignedUp, signUp } from "../../test/support/accounts.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";

let t: TestApp;
let base: string;
let alice: SignedUp;
const JOB = "job_streamed";

before(async () => {
  t = await createTestApp({ maxEventStreamsPerKey: 2 });
  base = await t.app.listen({ port: 0, host: "127.0.0.1" });
  alice = await signUp(t.app);
  const [model, dataset] = ["model", "dataset"].map((purpose) => `file_${purpose}_streamed`);
  // A running job: its stream stays open until its final event, which never comes here.
  await t.database.db.trainingJob.create({
    data: {
      id: JOB,
      organizationId: alice.organizationId,
      modelFileId: model!,
      datasetFileId: dataset!,
      spec: {},
      verificationLevel: "basic",
      status: "running",
      quotedCents: 1n,
      reservedCents: 1n,
      flopsPerStep: 1n,
      totalSteps: 1,
    },
  });
});

after(async () => {
  await t.close();
});

function open(user: SignedUp): { response: Promise<Response>; close: () => void } {
  const controller = new AbortController();
  const response = fetch(`${base}/v1/training-jobs/${JOB}/events`, {
    headers: { ...user.headers, accept: "text/event-stream" },
    signal: controller.signal,
  });
  return { response, close: () => controller.abort() };
}

test("one API key holds at most maxEventStreamsPerKey streams; closing one frees its slot", async () => {
  const streams = [open(alice), open(alice)];
  for (const stream of streams) assert.equal((await stream.response).status, 200);
  const third = await open(alice).response;
  assert.equal(third.status, 429);
  const body = (await third.json()) as { error: { code: string; type: string } };
  assert.deepEqual([body.error.type, body.error.code], ["rate_limit_error", "rate_limited"]);

  streams[0]!.close();
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    await sleep(50);
    const retry = open(alice);
    status = (await retry.response).status;
    if (status === 200) streams.push(retry);
  }
  assert.equal(status, 200, "the closed stream's slot was given back");
  for (const stream of streams) stream.close();
  // Every slot comes back once the server has seen the streams close.
  for (let i = 0; i < 50 && (await t.redis.zcard(`event-streams:${alice.apiKeyId}`)) > 0; i++)
    await sleep(50);
  assert.equal(await t.redis.zcard(`event-streams:${alice.apiKeyId}`), 0);
});
