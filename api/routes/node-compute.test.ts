// Compute reports through the node gateway: a worker's CPU per trained step and a verifier's per
// replayed step are stored on the task and the audit (bench:fraud's replay_overhead reads them),
// and a hostile figure (negative, NaN, infinite, absurd, more steps than the work has) is refused
// without storing anything or spoiling the report that follows.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decodeCheckpoint, encodeCheckpoint, type TrainingState } from "../../protocol/checkpoint.ts";
import { merkleRoot } from "../../protocol/merkle.ts";
import type { AuditTask, ComputeReport } from "../../protocol/node-wire.ts";
import { commitmentMessage, sha256Hex, verdictMessage } from "../../protocol/signed-messages.ts";
import { QUEUE_POLICIES } from "../../queue/policies.ts";
import type { TaskProducer } from "../../queue/producers.ts";
import { type SignedUp, signUp } from "../../test/support/accounts.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { type GatewayApp, RecordingLifecycle, startGatewayApp } from "../../test/support/gateway.ts";
import { uploadMlpFixtures } from "../../test/support/uploads.ts";
import type { NodeError } from "../../worker-runtime/node/errors.ts";
import { GatewayClient } from "../../worker-runtime/node/gateway-client.ts";
import { loadIdentity, type NodeIdentity } from "../../worker-runtime/node/identity.ts";
import { loadFixture } from "../../worker-runtime/train/fixtures.ts";
import { deliveredModel, initialCheckpoint } from "../../worker-runtime/train/trainer.ts";
import { taskIdOf } from "../services/job-dispatch.ts";

const PROFILE = "e".repeat(64);
const policy = { ...QUEUE_POLICIES.training, attempts: 1, backoffMs: 10 };

// JSON carries NaN and infinities as null; the rest are numbers the schema or the gateway refuses.
const HOSTILE: Array<[string, ComputeReport]> = [
  ["a negative CPU time", { cpu_seconds: -1, steps: 5 }],
  ["no CPU time", { cpu_seconds: 0, steps: 5 }],
  ["NaN", { cpu_seconds: Number.NaN, steps: 5 }],
  ["infinity", { cpu_seconds: Number.POSITIVE_INFINITY, steps: 5 }],
  ["an absurd CPU time", { cpu_seconds: 1e300, steps: 5 }],
  ["no step", { cpu_seconds: 1, steps: 0 }],
  ["a fractional step", { cpu_seconds: 1, steps: 2.5 }],
  ["more steps than the work", { cpu_seconds: 1, steps: 11 }],
];

describe("compute reports", () => {
  let t: TestApp;
  let served: GatewayApp;
  let producer: TaskProducer;
  let alice: SignedUp;
  let worker: NodeIdentity;
  let verifier: NodeIdentity;
  let workerClient: GatewayClient;
  let verifierClient: GatewayClient;
  const fixture = loadFixture("mlp");
  const spec = { ...fixture.spec, max_steps: 10, checkpoint_every: 5 };
  let initial: TrainingState;

  function checkpointAt(step: number): Uint8Array {
    if (step === 0) return encodeCheckpoint(initial);
    const params = new Map(
      [...initial.params].map(([name, p]) => [
        name,
        { ...p, data: (p.data as Float32Array).map((v) => v + step) },
      ]),
    );
    return encodeCheckpoint({ ...initial, step, params });
  }

  /** A job of the MLP fixture with its task row, as dispatch leaves it. */
  async function taskRow(): Promise<string> {
    const request = { ...(await uploadMlpFixtures(t.app, alice)), spec, verification: "basic" as const };
    const job = await t.services.jobs.create(alice.organizationId, request);
    const taskId = taskIdOf(job.id);
    await t.database.db.task.create({
      data: {
        id: taskId,
        jobId: job.id,
        status: "assigned",
        escrowCents: BigInt(job.price.reserved_cents),
        escrowPlanck: "1000000000000",
        usdPerVt: "0.01",
      },
    });
    return taskId;
  }

  async function refused(promise: Promise<unknown>, what: string) {
    await assert.rejects(
      promise,
      (error: NodeError) => {
        assert.equal(error.status, 400, `${what}: ${error.message}`);
        return true;
      },
      what,
    );
  }

  before(async () => {
    t = await createTestApp();
    alice = await signUp(t.app);
    await t.services.ledger.topUp(alice.organizationId, 10_000, "test:compute-credit");
    [worker, verifier] = await Promise.all([loadIdentity("//Bob"), loadIdentity("//Charlie")]);
    served = await startGatewayApp(t, new RecordingLifecycle(), policy, 1 << 20);
    producer = served.producer;
    workerClient = new GatewayClient(served.url, worker);
    verifierClient = new GatewayClient(served.url, verifier);
    initial = decodeCheckpoint(await initialCheckpoint(fixture.model, fixture.dataset, spec));
    await workerClient.register(["worker"], PROFILE);
    await verifierClient.register(["verifier"], PROFILE);
  });

  after(async () => {
    await served.close();
    await t.close();
  });

  it("stores a worker's CPU time and steps on the task, refusing hostile figures", async () => {
    const taskId = await taskRow();
    await producer.enqueueTraining(worker.address, {
      task_id: taskId,
      model_sha256: sha256Hex(fixture.model),
      dataset_sha256: sha256Hex(fixture.dataset.bytes),
      dataset_file_name: fixture.dataset.fileName,
      spec,
      total_steps: 10,
      checkpoint_every: 5,
      chain: null,
    });
    const claim = await workerClient.claimTraining(5);
    assert.ok(claim);
    const checkpoints = [0, 5, 10].map(checkpointAt);
    for (const [i, bytes] of checkpoints.entries())
      await workerClient.uploadCheckpoint(claim.lease.id, i * 5, bytes);
    const leaves = checkpoints.map((bytes) => sha256Hex(bytes));
    const root = Buffer.from(merkleRoot(leaves.map((l) => Buffer.from(l, "hex")))).toString("hex");
    const modelSha256 = sha256Hex(deliveredModel(fixture.model, checkpoints[2]!));
    const completion = {
      model_sha256: modelSha256,
      checkpoint_root: root,
      leaves,
      metrics: {},
      commitment_signature: worker.sign(
        commitmentMessage({ taskId, checkpointRoot: root, leafCount: 3, modelSha256 }),
      ),
    };
    for (const [what, compute] of HOSTILE) {
      await refused(workerClient.complete(claim.lease.id, { ...completion, compute }), what);
    }
    const stored = () =>
      t.database.db.task.findUniqueOrThrow({
        where: { id: taskId },
        select: { workerCpuSeconds: true, workerSteps: true },
      });
    assert.deepEqual(await stored(), { workerCpuSeconds: null, workerSteps: null });
    await workerClient.complete(claim.lease.id, {
      ...completion,
      compute: { cpu_seconds: 0.125, steps: 10 },
    });
    assert.deepEqual(await stored(), { workerCpuSeconds: 0.125, workerSteps: 10 });
  });

  it("stores a verifier's CPU time and steps on its audit, refusing hostile figures", async () => {
    const taskId = await taskRow();
    const key = { taskId, attempt: 1, auditIndex: 0 };
    await t.database.db.taskAudit.create({ data: { ...key, segment: 1, verifierAddress: verifier.address } });
    const audit: AuditTask = {
      task_id: taskId,
      model_sha256: sha256Hex(fixture.model),
      dataset_sha256: sha256Hex(fixture.dataset.bytes),
      dataset_file_name: fixture.dataset.fileName,
      spec,
      checkpoint_root: "1".repeat(64),
      tree_size: 3,
      from: { step: 5, sha256: "2".repeat(64), leaf_index: 1, proof: [] },
      to: { step: 10, sha256: "3".repeat(64), leaf_index: 2, proof: [] },
      chain: { chain_task_id: "7", attempt: 1, audit_index: 0 },
    };
    await producer.enqueueAudit(verifier.address, audit);
    const claim = await verifierClient.claimAudit(5);
    assert.ok(claim);
    const signature = verifier.sign(
      verdictMessage({
        taskId,
        checkpointRoot: audit.checkpoint_root,
        fromStep: 5,
        fromSha256: audit.from.sha256,
        toStep: 10,
        toSha256: audit.to.sha256,
        agrees: true,
      }),
    );
    // The segment has 5 steps: 6 is more than it holds.
    for (const [what, compute] of [
      ...HOSTILE,
      ["more steps than the segment", { cpu_seconds: 1, steps: 6 }],
    ] as const) {
      await refused(verifierClient.verdict(claim.lease.id, true, signature, compute), what);
    }
    const stored = () =>
      t.database.db.taskAudit.findUniqueOrThrow({
        where: { taskId_attempt_auditIndex: key },
        select: { replayCpuSeconds: true, replaySteps: true },
      });
    assert.deepEqual(await stored(), { replayCpuSeconds: null, replaySteps: null });
    await verifierClient.verdict(claim.lease.id, true, signature, { cpu_seconds: 0.0625, steps: 5 });
    assert.deepEqual(await stored(), { replayCpuSeconds: 0.0625, replaySteps: 5 });
  });
});
