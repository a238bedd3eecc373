import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { TrainingTask } from "../protocol/node-wire.ts";
import { LeaseError } from "./errors.ts";
import { LeaseBroker, parseLeaseId } from "./leases.ts";
import type { QueueConnection } from "./names.ts";
import { QUEUE_POLICIES, type QueuePolicy } from "./policies.ts";
import { TaskProducer } from "./producers.ts";

function redisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error("REDIS_URL is not set: run tests with `npm test`, which provides one");
  return url;
}

// Short leases so a lapse happens within the test: the lock lapses after 800 ms and the stalled
// checker (two passes) returns the job within about another second.
const policy: QueuePolicy = {
  ...QUEUE_POLICIES.training,
  attempts: 2,
  backoffMs: 10,
  lockMs: 800,
  stalledIntervalMs: 300,
  maxStalledCount: 1,
};

function task(taskId: string): TrainingTask {
  return {
    task_id: taskId,
    model_sha256: "a".repeat(64),
    dataset_sha256: "b".repeat(64),
    dataset_file_name: "data.npz",
    spec: { batch_size: 4 },
    total_steps: 10,
    checkpoint_every: 5,
    chain: null,
  };
}

// Three nodes' addresses (//Alice, //Bob and //Charlie): each has a queue of its own.
const NODE_A = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const NODE_B = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const NODE_C = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";

describe("lease broker", () => {
  const connection: QueueConnection = {
    redisUrl: redisUrl(),
    prefix: `test-${randomBytes(4).toString("hex")}`,
  };
  const producer = new TaskProducer(connection, { training: policy, audit: policy });
  const broker = new LeaseBroker("training", NODE_A, connection, policy);
  const otherNode = new LeaseBroker("training", NODE_B, connection, policy);
  const exhausted: Array<{ jobId: string; reason: string }> = [];

  before(async () => {
    broker.onExhausted(async (jobId, reason) => {
      exhausted.push({ jobId, reason });
    });
    await Promise.all([broker.start(), otherNode.start()]);
  });
  after(async () => {
    await Promise.all([broker.close(), otherNode.close()]);
    await producer.close();
  });

  it("answers null after the wait when no task is queued", async () => {
    const started = Date.now();
    assert.equal(await broker.claim(300), null);
    assert.ok(Date.now() - started >= 280);
  });

  it("hands a node only the work queued for it, renews it, records checkpoints and completes it once", async () => {
    await producer.enqueueTraining(NODE_A, task("task_one"));
    await producer.enqueueTraining(NODE_A, task("task_one"));
    assert.equal(await otherNode.claim(200), null, "another node's work is not offered to it");
    const lease = await broker.claim(2_000);
    assert.ok(lease);
    assert.equal(lease.jobId, "task_one-training-0");
    assert.equal(lease.attempt, 1);
    assert.equal(lease.data.holder, NODE_A);
    assert.deepEqual(lease.data.checkpoints, []);
    assert.equal(await broker.claim(200), null, "the duplicate enqueue added nothing");

    await assert.rejects(otherNode.renew(lease.id), (e: LeaseError) => e.code === "LEASE_LOST");
    const renewed = await broker.recordCheckpoint(lease.id, { step: 5, sha256: "c".repeat(64) });
    assert.deepEqual(renewed.data.checkpoints, [{ step: 5, sha256: "c".repeat(64) }]);
    await broker.complete(lease.id, { ok: true });
    await assert.rejects(broker.renew(lease.id), (e: LeaseError) => e.code === "LEASE_LOST");
    await assert.rejects(broker.complete(lease.id, {}), (e: LeaseError) => e.code === "LEASE_LOST");
  });

  it("starts a node's training from the checkpoints an earlier attempt stored", async () => {
    const earlier = [
      { step: 0, sha256: "1".repeat(64) },
      { step: 5, sha256: "2".repeat(64) },
    ];
    await producer.enqueueTraining(
      NODE_B,
      { ...task("task_moved"), chain: { chain_task_id: "7", attempt: 1 } },
      earlier,
    );
    const lease = await otherNode.claim(2_000);
    assert.equal(lease?.jobId, "task_moved-training-1");
    assert.deepEqual(lease?.data.checkpoints, earlier);
    await otherNode.complete(lease!.id, null);
  });

  it("answers a claim waiting on a broker that closes with nothing, not an error", async () => {
    const closing = new LeaseBroker("training", NODE_C, connection, policy);
    await closing.start();
    const claim = closing.claim(5_000);
    await sleep(100);
    const started = Date.now();
    await closing.close();
    assert.equal(await claim, null);
    assert.ok(Date.now() - started < 2_000, "the claim ends with the broker, not at its deadline");
  });

  it("wakes a waiting claim as soon as a task is enqueued", async () => {
    const claim = broker.claim(5_000);
    await sleep(100);
    const started = Date.now();
    await producer.enqueueTraining(NODE_A, task("task_wake"));
    const lease = await claim;
    assert.equal(lease?.jobId, "task_wake-training-0");
    assert.ok(Date.now() - started < 900, "woken by the queue event, not the poll");
    await broker.complete(lease!.id, null);
  });

  it("returns a task whose lease lapsed to the queue with its checkpoints, and refuses the old lease", async () => {
    await producer.enqueueTraining(NODE_A, task("task_lapse"));
    const first = await broker.claim(2_000);
    assert.ok(first);
    await broker.recordCheckpoint(first.id, { step: 5, sha256: "d".repeat(64) });
    const second = await broker.claim(5_000);
    assert.ok(second, "the stalled checker returned the task");
    assert.equal(second.jobId, "task_lapse-training-0");
    assert.equal(second.attempt, 2);
    assert.deepEqual(second.data.checkpoints, [{ step: 5, sha256: "d".repeat(64) }]);
    await assert.rejects(broker.renew(first.id), (e: LeaseError) => e.code === "LEASE_LOST");
    await broker.complete(second.id, null);
  });

  it("retries a failed task, then reports it exhausted once", async () => {
    await producer.enqueueTraining(NODE_A, task("task_fail"));
    const first = await broker.claim(2_000);
    assert.ok(first);
    assert.deepEqual(await broker.fail(first.id, "out of memory"), { retried: true });
    const second = await broker.claim(3_000);
    assert.ok(second);
    assert.deepEqual(await broker.fail(second.id, "out of memory again"), { retried: false });
    for (let i = 0; i < 50 && exhausted.length === 0; i++) await sleep(50);
    assert.deepEqual(exhausted, [{ jobId: "task_fail-training-0", reason: "out of memory again" }]);
  });

  it("rejects what is not a lease id", () => {
    assert.throws(
      () => parseLeaseId("training.x"),
      (e: LeaseError) => e.code === "MALFORMED_LEASE",
    );
    assert.throws(() => parseLeaseId(`mining.task_a.${"0".repeat(32)}`), LeaseError);
    assert.deepEqual(parseLeaseId(`audit.task_a-audit-0-0-5.${"f".repeat(32)}`), {
      kind: "audit",
      jobId: "task_a-audit-0-0-5",
      token: "f".repeat(32),
    });
  });
});
