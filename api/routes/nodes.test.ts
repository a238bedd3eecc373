import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { decodeCheckpoint, encodeCheckpoint, type TrainingState } from "../../protocol/checkpoint.ts";
import { merkleRoot } from "../../protocol/merkle.ts";
import type { AuditTask, TrainingTask } from "../../protocol/node-wire.ts";
import {
  commitmentMessage,
  NODE_HEADERS,
  nodeRequestMessage,
  sha256Hex,
  verdictMessage,
} from "../../protocol/signed-messages.ts";
import { QUEUE_POLICIES, type QueuePolicy } from "../../queue/policies.ts";
import type { TaskProducer } from "../../queue/producers.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { type GatewayApp, RecordingLifecycle, startGatewayApp } from "../../test/support/gateway.ts";
import type { NodeError } from "../../worker-runtime/node/errors.ts";
import { GatewayClient } from "../../worker-runtime/node/gateway-client.ts";
import { loadIdentity, type NodeIdentity } from "../../worker-runtime/node/identity.ts";
import { loadFixture } from "../../worker-runtime/train/fixtures.ts";
import { deliveredModel, initialCheckpoint } from "../../worker-runtime/train/trainer.ts";
import type { CheckpointReport } from "../services/job-lifecycle.ts";

interface ErrorBody {
  error: { code: string; param: string | null };
}

// Leases lapse after 1.2 s so a lost lease shows within the test; a failure is final, so a task
// given up by one test never comes back in the next (queue/leases.test.ts covers retries).
const policy: QueuePolicy = {
  ...QUEUE_POLICIES.training,
  attempts: 1,
  backoffMs: 10,
  lockMs: 1_200,
  stalledIntervalMs: 300,
  maxStalledCount: 3,
};
const PROFILE = "e".repeat(64);

describe("node gateway routes", () => {
  let t: TestApp;
  let served: GatewayApp;
  let base: string;
  let producer: TaskProducer;
  const lifecycle = new RecordingLifecycle();
  let worker: NodeIdentity;
  let verifier: NodeIdentity;
  let stranger: NodeIdentity;
  let operator: NodeIdentity;
  let workerClient: GatewayClient;
  let verifierClient: GatewayClient;
  const fixture = loadFixture("mlp");
  const model = fixture.model;
  const dataset = fixture.dataset.bytes;
  const spec = { ...fixture.spec, max_steps: 10, checkpoint_every: 5 };
  let initial: TrainingState;

  /** Canonical checkpoint bytes of this run's layout at `step`, with weights that depend on `variant`. */
  function checkpointAt(step: number, variant = 0): Uint8Array {
    if (step === 0 && variant === 0) return encodeCheckpoint(initial);
    const params = new Map(
      [...initial.params].map(([name, t]) => [
        name,
        { ...t, data: (t.data as Float32Array).map((v) => v + step + variant) },
      ]),
    );
    return encodeCheckpoint({ ...initial, step, params });
  }

  async function storeBlob(bytes: Uint8Array): Promise<string> {
    const staged = await t.services.files.blobs.stage(Readable.from([bytes]), 1 << 20);
    await staged.commit();
    return staged.sha256;
  }

  function trainingTask(taskId: string): TrainingTask {
    return {
      task_id: taskId,
      model_sha256: sha256Hex(model),
      dataset_sha256: sha256Hex(dataset),
      dataset_file_name: fixture.dataset.fileName,
      spec,
      total_steps: 10,
      checkpoint_every: 5,
      chain: null,
    };
  }

  /** A signed request built by hand, so tests can break one part of it. */
  async function raw(
    identity: NodeIdentity,
    method: string,
    path: string,
    options: {
      body?: string;
      timestamp?: number;
      nonce?: string;
      signWith?: NodeIdentity;
      signedBody?: string;
    } = {},
  ) {
    const timestamp = String(options.timestamp ?? Date.now());
    const nonce = options.nonce ?? randomBytes(16).toString("hex");
    const bodySha256 = sha256Hex(options.signedBody ?? options.body ?? "");
    const signer = options.signWith ?? identity;
    const headers: Record<string, string> = {
      [NODE_HEADERS.address]: identity.address,
      [NODE_HEADERS.timestamp]: timestamp,
      [NODE_HEADERS.nonce]: nonce,
      [NODE_HEADERS.signature]: signer.sign(
        nodeRequestMessage({ method, path, timestamp, nonce, bodySha256 }),
      ),
    };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${base}${path}`, { method, headers, body: options.body });
    const json = response.headers.get("content-type")?.startsWith("application/json");
    const body = (json ? await response.json() : null) as ErrorBody | null;
    return { status: response.status, body: body!, headers };
  }

  async function rejected(promise: Promise<unknown>, status: number, apiCode: string) {
    await assert.rejects(promise, (error: NodeError) => {
      assert.equal(error.status, status, error.message);
      assert.equal(error.apiCode, apiCode, error.message);
      return true;
    });
  }

  before(async () => {
    t = await createTestApp();
    [worker, verifier, stranger, operator] = await Promise.all([
      loadIdentity("//Bob"),
      loadIdentity("//Charlie"),
      loadIdentity("//Dave"),
      loadIdentity("//Ferdie"),
    ]);
    served = await startGatewayApp(t, lifecycle, policy, 1 << 20, [operator.address]);
    ({ producer, url: base } = served);
    workerClient = new GatewayClient(base, worker);
    verifierClient = new GatewayClient(base, verifier);
    await storeBlob(model);
    await storeBlob(dataset);
    initial = decodeCheckpoint(await initialCheckpoint(model, fixture.dataset, spec));
    await workerClient.register(["worker"], PROFILE);
    await verifierClient.register(["verifier"], PROFILE);
  });

  after(async () => {
    await served.close();
    await t.close();
  });

  describe("request signatures", () => {
    it("refuses a request without the node headers", async () => {
      const response = await fetch(`${base}/v1/nodes/training-tasks/claim`, { method: "POST" });
      assert.equal(response.status, 401);
      const body = (await response.json()) as { error: { code: string; type: string } };
      assert.equal(body.error.code, "missing_node_signature");
      assert.equal(body.error.type, "authentication_error");
    });

    it("refuses a signature by another key, and a body other than the one signed", async () => {
      const forged = await raw(worker, "POST", "/v1/nodes/register", {
        body: JSON.stringify({ roles: ["worker"], profile_hash: PROFILE }),
        signWith: stranger,
      });
      assert.equal(forged.status, 401);
      assert.equal(forged.body.error.code, "bad_signature");
      const tampered = await raw(worker, "POST", "/v1/nodes/register", {
        body: JSON.stringify({ roles: ["verifier"], profile_hash: PROFILE }),
        signedBody: JSON.stringify({ roles: ["worker"], profile_hash: PROFILE }),
      });
      assert.equal(tampered.status, 401);
      assert.equal(tampered.body.error.code, "bad_signature");
    });

    it("refuses a stale timestamp, either way", async () => {
      for (const skew of [-61_000, 61_000]) {
        const stale = await raw(worker, "POST", "/v1/nodes/leases/x/heartbeat", {
          timestamp: Date.now() + skew,
        });
        assert.equal(stale.status, 401);
        assert.equal(stale.body.error.code, "stale_request");
      }
    });

    it("refuses a replayed request", async () => {
      const first = await raw(worker, "POST", "/v1/nodes/leases/x/heartbeat");
      assert.equal(first.status, 400);
      const again = await fetch(`${base}/v1/nodes/leases/x/heartbeat`, {
        method: "POST",
        headers: first.headers,
      });
      assert.equal(again.status, 401);
      assert.equal(((await again.json()) as { error: { code: string } }).error.code, "replayed_request");
    });
  });

  describe("registration", () => {
    it("answers the node and rejects bad bodies with the error shape", async () => {
      const node = await new GatewayClient(base, stranger).register(["whistleblower", "verifier"], PROFILE);
      assert.equal(node.address, stranger.address);
      assert.deepEqual(node.roles, ["verifier", "whistleblower"]);
      const malformed = await raw(stranger, "POST", "/v1/nodes/register", { body: "{not json" });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error.code, "invalid_json");
      const badRole = await raw(stranger, "POST", "/v1/nodes/register", {
        body: JSON.stringify({ roles: ["miner"], profile_hash: PROFILE }),
      });
      assert.equal(badRole.status, 400);
      assert.equal(badRole.body.error.param, "roles.0");
      const badHash = await raw(stranger, "POST", "/v1/nodes/register", {
        body: JSON.stringify({ roles: ["worker"], profile_hash: "abc" }),
      });
      assert.equal(badHash.status, 400);
      assert.equal(badHash.body.error.param, "profile_hash");
    });

    it("lets only registered nodes with the right role claim", async () => {
      const unknown = await loadIdentity("//Eve");
      await rejected(new GatewayClient(base, unknown).claimTraining(0), 403, "node_not_registered");
      await rejected(verifierClient.claimTraining(0), 403, "role_not_registered");
      await rejected(workerClient.claimAudit(0), 403, "role_not_registered");
    });
  });

  describe("training tasks", () => {
    it("answers 204 when no task comes within the wait", async () => {
      assert.equal(await workerClient.claimTraining(0), null);
    });

    it("leases a task, stores checkpoints and the model, and completes it with a signed commitment", async () => {
      await producer.enqueueTraining(worker.address, trainingTask("task_flow"));
      const claim = await workerClient.claimTraining(5);
      assert.ok(claim);
      assert.equal(claim.task.task_id, "task_flow");
      assert.equal(claim.resume_from, null);
      assert.equal(claim.attempt, 1);
      const lease = claim.lease.id;
      assert.deepEqual(lifecycle.of("taskStarted", "task_flow"), [worker.address]);

      await workerClient.progress(lease, {
        step: 3,
        total_steps: 10,
        loss: 0.5,
        learning_rate: 0.01,
        steps_per_second: 4,
      });
      await rejected(
        workerClient.progress(lease, {
          step: 11,
          total_steps: 10,
          loss: 1,
          learning_rate: 0,
          steps_per_second: 0,
        }),
        400,
        "progress_invalid",
      );

      const checkpoints = [0, 5, 10].map((step) => ({ step, bytes: checkpointAt(step) }));
      await rejected(
        workerClient.uploadCheckpoint(lease, 3, checkpoints[0]!.bytes),
        400,
        "checkpoint_step_invalid",
      );
      for (const c of checkpoints) await workerClient.uploadCheckpoint(lease, c.step, c.bytes);
      await workerClient.uploadCheckpoint(lease, 5, checkpoints[1]!.bytes);
      await rejected(workerClient.uploadCheckpoint(lease, 5, checkpointAt(5, 1)), 409, "checkpoint_conflict");
      assert.deepEqual(
        lifecycle.of<CheckpointReport>("checkpointStored", "task_flow").map((c) => c.step),
        [0, 5, 10, 5],
      );
      assert.deepEqual(
        Buffer.from(await workerClient.download(sha256Hex(checkpoints[1]!.bytes))),
        checkpoints[1]!.bytes,
      );

      const leaves = checkpoints.map((c) => sha256Hex(c.bytes));
      const root = Buffer.from(merkleRoot(leaves.map((l) => Buffer.from(l, "hex")))).toString("hex");
      const trained = deliveredModel(model, checkpoints[2]!.bytes);
      const commitment = {
        taskId: "task_flow",
        checkpointRoot: root,
        leafCount: 3,
        modelSha256: sha256Hex(trained),
      };
      const signature = worker.sign(commitmentMessage(commitment));
      const completion = {
        model_sha256: sha256Hex(trained),
        checkpoint_root: root,
        leaves,
        metrics: { final_loss: 0.1 },
        commitment_signature: signature,
      };
      const swapped = randomBytes(1024);
      const swappedCommitment = { ...commitment, modelSha256: sha256Hex(swapped) };
      assert.equal(await workerClient.uploadModel(lease, swapped), sha256Hex(swapped));
      await rejected(
        workerClient.complete(lease, {
          ...completion,
          model_sha256: sha256Hex(swapped),
          commitment_signature: worker.sign(commitmentMessage(swappedCommitment)),
        }),
        400,
        "model_mismatch",
      );
      await rejected(
        workerClient.complete(lease, { ...completion, leaves: leaves.slice(1) }),
        400,
        "commitment_invalid",
      );
      await rejected(
        workerClient.complete(lease, { ...completion, checkpoint_root: "0".repeat(64) }),
        400,
        "commitment_invalid",
      );
      await rejected(
        workerClient.complete(lease, {
          ...completion,
          commitment_signature: stranger.sign(commitmentMessage(commitment)),
        }),
        400,
        "commitment_invalid",
      );
      await workerClient.complete(lease, completion);
      // The worker never uploaded it: the platform stored its own derivation, which is the
      // customer's and no node's to download.
      assert.equal(await served.gateway.blobs.has(sha256Hex(trained)), true);
      await rejected(workerClient.download(sha256Hex(trained)), 403, "blob_not_leased");
      assert.deepEqual(lifecycle.of("trainingCompleted", "task_flow"), [
        {
          modelSha256: sha256Hex(trained),
          checkpointRoot: root,
          leaves,
          metrics: { final_loss: 0.1 },
          workerAddress: worker.address,
          commitmentSignature: signature,
        },
      ]);
      await rejected(workerClient.heartbeat(lease), 409, "lease_lost");
      await rejected(workerClient.complete(lease, completion), 409, "lease_lost");
    });

    it("refuses an upload whose bytes differ from the signed hash", async () => {
      await producer.enqueueTraining(worker.address, trainingTask("task_mismatch"));
      const claim = await workerClient.claimTraining(5);
      assert.ok(claim);
      const path = `/v1/nodes/leases/${claim.lease.id}/checkpoints/0`;
      const timestamp = String(Date.now());
      const nonce = randomBytes(16).toString("hex");
      const declared = sha256Hex("other bytes");
      const response = await fetch(`${base}${path}`, {
        method: "PUT",
        headers: {
          [NODE_HEADERS.address]: worker.address,
          [NODE_HEADERS.timestamp]: timestamp,
          [NODE_HEADERS.nonce]: nonce,
          [NODE_HEADERS.signature]: worker.sign(
            nodeRequestMessage({ method: "PUT", path, timestamp, nonce, bodySha256: declared }),
          ),
          [NODE_HEADERS.contentSha256]: declared,
          "content-type": "application/octet-stream",
        },
        body: randomBytes(64),
      });
      assert.equal(response.status, 400);
      assert.equal(
        ((await response.json()) as { error: { code: string } }).error.code,
        "content_hash_mismatch",
      );
      assert.equal(await t.services.files.blobs.has(declared), false);
      await workerClient.fail(claim.lease.id, "giving up in a test");
    });

    it("refuses checkpoints that are not states of the run: garbage, wrong step, names, shapes, leaf 0", async () => {
      await producer.enqueueTraining(worker.address, trainingTask("task_evidence"));
      const claim = await workerClient.claimTraining(5);
      assert.ok(claim);
      const lease = claim.lease.id;
      const invalid = (step: number, bytes: Uint8Array) =>
        rejected(workerClient.uploadCheckpoint(lease, step, bytes), 400, "checkpoint_invalid");
      await invalid(5, randomBytes(600));
      await invalid(5, checkpointAt(10));
      const [first, tensor] = [...initial.params].find(([, t]) => t.dims.length > 1)!;
      const renamed = new Map(
        [...initial.params].map(([name, t]) => [name === first ? `${name}_x` : name, t]),
      );
      await invalid(5, encodeCheckpoint({ ...initial, step: 5, params: renamed }));
      const reshaped = new Map(initial.params).set(first, { ...tensor, dims: [tensor.data.length] });
      await invalid(5, encodeCheckpoint({ ...initial, step: 5, params: reshaped }));
      const retyped = new Map(initial.params).set(first, {
        ...tensor,
        dtype: "int32",
        data: new Int32Array(tensor.data.length),
      });
      await invalid(5, encodeCheckpoint({ ...initial, step: 5, params: retyped }));
      // Leaf 0 is the platform's: a well-formed initial state with other weights is refused.
      await invalid(0, checkpointAt(0, 1));
      // Each refusal is reported against the worker that sent it.
      const refusals = lifecycle.of<{ worker: string }>("evidenceRefused", "task_evidence");
      assert.deepEqual(
        refusals.map((r) => r.worker),
        Array(6).fill(worker.address),
      );
      await workerClient.uploadCheckpoint(lease, 0, checkpointAt(0));
      await workerClient.uploadCheckpoint(lease, 5, checkpointAt(5));
      assert.deepEqual(
        lifecycle.of<CheckpointReport>("checkpointStored", "task_evidence").map((c) => c.step),
        [0, 5],
      );
      await workerClient.fail(lease, "test over");
    });

    it("gives a task whose lease lapsed back to its worker, resuming from the last checkpoint", async () => {
      await producer.enqueueTraining(worker.address, trainingTask("task_lapse"));
      const first = await workerClient.claimTraining(5);
      assert.ok(first);
      const checkpoint = checkpointAt(5);
      await workerClient.uploadCheckpoint(first.lease.id, 0, checkpointAt(0));
      await workerClient.uploadCheckpoint(first.lease.id, 5, checkpoint);
      const second = await workerClient.claimTraining(10);
      assert.ok(second, "the lapsed task came back");
      assert.equal(second.task.task_id, "task_lapse");
      assert.equal(second.attempt, 2);
      assert.deepEqual(second.resume_from, { step: 5, sha256: sha256Hex(checkpoint) });
      assert.deepEqual(
        second.checkpoints.map((c) => c.step),
        [0, 5],
      );
      await rejected(workerClient.heartbeat(first.lease.id), 409, "lease_lost");
      await rejected(workerClient.uploadCheckpoint(first.lease.id, 10, checkpointAt(10)), 409, "lease_lost");
      await workerClient.fail(second.lease.id, "test over");
    });

    it("serves a blob only to a node holding a live lease on work that uses it, a resumed task's start included", async () => {
      const unrelatedBytes = randomBytes(256);
      const unrelated = await storeBlob(unrelatedBytes);
      const strangers = [
        new GatewayClient(base, await loadIdentity("//Eve")),
        new GatewayClient(base, stranger),
      ];
      // Hashes are public (on chain, in receipts): knowing one, or being registered, is not enough.
      for (const client of [...strangers, workerClient]) {
        await rejected(client.download(sha256Hex(model)), 403, "blob_not_leased");
      }
      await producer.enqueueTraining(worker.address, trainingTask("task_reads"));
      const first = await workerClient.claimTraining(5);
      assert.equal(first?.task.task_id, "task_reads");
      assert.deepEqual(Buffer.from(await workerClient.download(sha256Hex(model))), Buffer.from(model));
      assert.deepEqual(Buffer.from(await workerClient.download(sha256Hex(dataset))), Buffer.from(dataset));
      await rejected(workerClient.download(unrelated), 403, "blob_not_leased");
      for (const client of strangers)
        await rejected(client.download(sha256Hex(model)), 403, "blob_not_leased");

      const checkpoint = checkpointAt(5);
      await workerClient.uploadCheckpoint(first!.lease.id, 0, checkpointAt(0));
      await workerClient.uploadCheckpoint(first!.lease.id, 5, checkpoint);
      await sleep(policy.lockMs + 100);
      await rejected(workerClient.download(sha256Hex(checkpoint)), 403, "blob_not_leased");
      // The lapsed task comes back on a new lease: the checkpoint it resumes from is readable again.
      const second = await workerClient.claimTraining(10);
      assert.deepEqual(second?.resume_from, { step: 5, sha256: sha256Hex(checkpoint) });
      assert.deepEqual(
        Buffer.from(await workerClient.download(sha256Hex(checkpoint))),
        Buffer.from(checkpoint),
      );
      await workerClient.fail(second!.lease.id, "test over");
      await rejected(workerClient.download(sha256Hex(checkpoint)), 403, "blob_not_leased");
      // The API's own key reads any blob.
      const own = new GatewayClient(base, operator);
      assert.deepEqual(Buffer.from(await own.download(unrelated)), unrelatedBytes);
    });

    it("hands out only work that is still the node's duty on chain, and drops the rest without failing it", async () => {
      const onChain = (taskId: string): TrainingTask => ({
        ...trainingTask(taskId),
        chain: { chain_task_id: "3", attempt: 0 },
      });
      const reassigned = new Set(["task_superseded"]);
      lifecycle.currentDuty = (work) => !reassigned.has(work.task_id);
      try {
        await producer.enqueueTraining(worker.address, onChain("task_superseded"));
        await producer.enqueueTraining(worker.address, onChain("task_current"));
        const claim = await workerClient.claimTraining(5);
        assert.equal(claim?.task.task_id, "task_current");
        assert.deepEqual(claim?.task.chain, { chain_task_id: "3", attempt: 0 });
        // Re-assigned while the node held it: giving it back drops it instead of failing the job.
        reassigned.add("task_current");
        await workerClient.fail(claim!.lease.id, "commit refused");
        assert.equal(await workerClient.claimTraining(1), null);
        assert.deepEqual(lifecycle.of("taskFailed", "task_current"), []);
      } finally {
        lifecycle.currentDuty = () => true;
      }
    });

    it("reports a task that failed on every attempt as abandoned by its worker, once", async () => {
      await producer.enqueueTraining(worker.address, trainingTask("task_doomed"));
      const claim = await workerClient.claimTraining(5);
      assert.equal(claim?.task.task_id, "task_doomed");
      await workerClient.fail(claim!.lease.id, "crash 2");
      for (let i = 0; i < 60 && lifecycle.of("trainingAbandoned", "task_doomed").length === 0; i++) {
        await sleep(50);
      }
      assert.equal(lifecycle.of("trainingAbandoned", "task_doomed").length, 1);
      // The node's own words reach the operator's log, never the job.
      assert.ok(
        served.nodeReports.some((r) => r.message === "crash 2" && r.context.includes("task_doomed")),
        JSON.stringify(served.nodeReports),
      );
    });

    it("refuses malformed leases and unknown blobs", async () => {
      await rejected(workerClient.heartbeat("nonsense"), 400, "invalid_lease");
      await rejected(workerClient.download("0".repeat(64)), 403, "blob_not_leased");
      const badHash = await raw(worker, "GET", "/v1/nodes/blobs/xyz");
      assert.equal(badHash.status, 400);
    });
  });

  describe("audits", () => {
    it("leases an audit to a verifier and forwards its signed verdict", async () => {
      const audit: AuditTask = {
        task_id: "task_audited",
        model_sha256: sha256Hex(model),
        dataset_sha256: sha256Hex(dataset),
        dataset_file_name: "data.npz",
        spec: {},
        checkpoint_root: "1".repeat(64),
        tree_size: 3,
        from: { step: 0, sha256: "2".repeat(64), leaf_index: 0, proof: [] },
        to: { step: 5, sha256: "3".repeat(64), leaf_index: 1, proof: [] },
        chain: null,
      };
      await producer.enqueueAudit(verifier.address, audit);
      const claim = await verifierClient.claimAudit(5);
      assert.ok(claim);
      assert.equal(claim.audit.to.leaf_index, 1);
      // The audit's lease opens its blobs to the verifier (the segment ends are not stored here).
      assert.deepEqual(Buffer.from(await verifierClient.download(sha256Hex(model))), Buffer.from(model));
      await rejected(verifierClient.download(audit.from.sha256), 404, "resource_missing");
      const verdict = {
        taskId: audit.task_id,
        checkpointRoot: audit.checkpoint_root,
        fromStep: 0,
        fromSha256: audit.from.sha256,
        toStep: 5,
        toSha256: audit.to.sha256,
        agrees: true,
      };
      await rejected(
        verifierClient.verdict(
          claim.lease.id,
          true,
          verifier.sign(verdictMessage({ ...verdict, agrees: false })),
        ),
        400,
        "verdict_invalid",
      );
      const signature = verifier.sign(verdictMessage(verdict));
      await verifierClient.verdict(claim.lease.id, true, signature);
      assert.deepEqual(lifecycle.of("auditCompleted", "task_audited"), [
        { chain: null, verifierAddress: verifier.address, fromStep: 0, toStep: 5, agrees: true, signature },
      ]);
    });
  });
});
