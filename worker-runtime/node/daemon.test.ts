// The node daemon against a real gateway, real queues and the real trainer, each daemon in its
// own process started through the CLI: a worker killed with SIGKILL after a checkpoint is started
// again with an empty data directory, resumes from the checkpoint it uploaded, and the task
// completes once with exactly the checkpoints of a run that never stopped. (A task re-assigned on
// chain to another worker is covered end to end in test/training-job.e2e.test.ts.)
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { AuditVerdict, CheckpointReport, TrainingResult } from "../../api/services/job-lifecycle.ts";
import { verifyNodeSignature } from "../../api/services/nodes/signatures.ts";
import { merkleInclusionProof } from "../../protocol/merkle.ts";
import type { AuditTask } from "../../protocol/node-wire.ts";
import { sha256Hex, verdictMessage } from "../../protocol/signed-messages.ts";
import { QUEUE_POLICIES, type QueuePolicy } from "../../queue/policies.ts";
import type { TaskProducer } from "../../queue/producers.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { type GatewayApp, RecordingLifecycle, startGatewayApp } from "../../test/support/gateway.ts";
import { loadFixture } from "../train/fixtures.ts";
import { train } from "../train/trainer.ts";
import { NodeDaemon } from "./daemon.ts";
import { loadIdentity } from "./identity.ts";

const TOTAL_STEPS = 40;
const EVERY = 10;
const KILL_AT = 20;
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

// The lease lapses 2 s after the killed worker's last report, so the test does not wait long.
const policy: QueuePolicy = {
  ...QUEUE_POLICIES.training,
  lockMs: 2_000,
  stalledIntervalMs: 500,
};

function startDaemon(
  apiUrl: string,
  seed: string,
  dataDir: string,
): { child: ChildProcess; output: string[] } {
  const output: string[] = [];
  const child = spawn(
    process.execPath,
    ["bin/veritrain.mjs", "node", "--role", "worker", "--api", apiUrl, "--data-dir", dataDir],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, VERITRAIN_NODE_SEED: seed } },
  );
  child.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  return { child, output };
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once("exit", (code, signal) => resolve({ code, signal }));
  });

describe("node daemon", () => {
  let t: TestApp;
  let served: GatewayApp;
  let producer: TaskProducer;
  let apiUrl: string;
  const lifecycle = new RecordingLifecycle();
  const dataDir = mkdtempSync(join(tmpdir(), "veritrain-node-"));
  const fixture = loadFixture("mlp");
  const { epochs: _epochs, ...baseSpec } = fixture.spec;
  const spec = { ...baseSpec, max_steps: TOTAL_STEPS, checkpoint_every: EVERY };

  before(async () => {
    t = await createTestApp();
    served = await startGatewayApp(t, lifecycle, policy, 64 << 20);
    ({ producer, url: apiUrl } = served);
    for (const bytes of [fixture.model, fixture.dataset.bytes]) {
      const staged = await t.services.files.blobs.stage(Readable.from([bytes]), 64 << 20);
      await staged.commit();
    }
  });

  after(async () => {
    await served.close();
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("resumes a task from the last uploaded checkpoint of a worker killed mid-task, bit-identical to an unbroken run", async () => {
    const unbroken = await train({ model: fixture.model, dataset: fixture.dataset, spec });
    assert.equal(unbroken.checkpoints.length, TOTAL_STEPS / EVERY + 1);

    const bob = await loadIdentity("//Bob");
    await producer.enqueueTraining(bob.address, {
      task_id: "task_killed",
      model_sha256: sha256Hex(fixture.model),
      dataset_sha256: sha256Hex(fixture.dataset.bytes),
      dataset_file_name: fixture.dataset.fileName,
      spec,
      total_steps: TOTAL_STEPS,
      checkpoint_every: EVERY,
      chain: null,
    });

    const first = startDaemon(apiUrl, "//Bob", join(dataDir, "bob-1"));
    // Killed the moment its checkpoint reaches the gateway: it cannot report anything after it.
    lifecycle.onCheckpoint = (checkpoint) => {
      if (checkpoint.step === KILL_AT) first.child.kill("SIGKILL");
    };
    assert.deepEqual(await exited(first.child), { code: null, signal: "SIGKILL" }, first.output.join(""));
    lifecycle.onCheckpoint = () => undefined;
    const storedBeforeKill = lifecycle.of("checkpointStored").length;

    // Restarted with nothing on disk: all it resumes from is what the gateway kept.
    const second = startDaemon(apiUrl, "//Bob", join(dataDir, "bob-2"));
    try {
      await lifecycle.until((calls) => calls.some((c) => c.method === "trainingCompleted"), 120_000);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nsecond worker's output:\n${second.output.join("")}`);
    } finally {
      second.child.kill("SIGTERM");
    }
    assert.deepEqual(await exited(second.child), { code: 0, signal: null }, second.output.join(""));

    assert.deepEqual(lifecycle.of("taskStarted"), [bob.address, bob.address]);
    assert.match(second.output.join(""), new RegExp(`resuming from step ${KILL_AT}`));

    const stored = lifecycle.of<CheckpointReport>("checkpointStored");
    assert.deepEqual(
      stored.slice(0, storedBeforeKill).map((c) => c.step),
      [0, 10, 20],
    );
    assert.deepEqual(
      stored.slice(storedBeforeKill).map((c) => c.step),
      [30, 40],
      "the restarted worker went on from the killed run's last checkpoint",
    );
    assert.deepEqual(
      stored.map((c) => c.sha256),
      unbroken.checkpoints.map((c) => c.sha256),
    );

    const completions = lifecycle.of<TrainingResult>("trainingCompleted");
    assert.equal(completions.length, 1);
    const result = completions[0]!;
    assert.equal(result.workerAddress, bob.address);
    assert.equal(result.checkpointRoot, unbroken.merkleRoot);
    assert.equal(result.leaves.at(-1), unbroken.finalSha256);
    assert.equal(result.modelSha256, sha256Hex(unbroken.model));
    assert.deepEqual(lifecycle.of("taskFailed"), []);
  });

  it("audits a segment: agrees with the worker's checkpoint, disagrees with another, and signs both", async () => {
    const checkpointDir = join(dataDir, "audited-run");
    const run = await train({ model: fixture.model, dataset: fixture.dataset, spec, checkpointDir });
    const leaves = run.checkpoints.map((c) => Buffer.from(c.sha256, "hex"));
    for (const record of run.checkpoints.slice(1, 3)) {
      const staged = await t.services.files.blobs.stage(
        Readable.from([
          readFileSync(join(checkpointDir, `step-${String(record.step).padStart(9, "0")}.ckpt`)),
        ]),
        64 << 20,
      );
      await staged.commit();
    }
    const proven = (index: number) => ({
      step: run.checkpoints[index]!.step,
      sha256: run.checkpoints[index]!.sha256,
      leaf_index: index,
      proof: merkleInclusionProof(leaves, index).map((p) => Buffer.from(p).toString("hex")),
    });
    const audit = (taskId: string, to: AuditTask["to"]): AuditTask => ({
      task_id: taskId,
      model_sha256: sha256Hex(fixture.model),
      dataset_sha256: sha256Hex(fixture.dataset.bytes),
      dataset_file_name: fixture.dataset.fileName,
      spec,
      checkpoint_root: run.merkleRoot,
      tree_size: leaves.length,
      from: proven(1),
      to,
      chain: null,
    });
    // An honest segment 10 -> 20, and one whose end is the (correctly proven) checkpoint of
    // step 30 presented as if it followed step 10 directly: the replay cannot reach it.
    const ferdie = await loadIdentity("//Ferdie");
    await producer.enqueueAudit(ferdie.address, audit("task_audited", proven(2)));
    await producer.enqueueAudit(ferdie.address, audit("task_misreported", { ...proven(3), step: 20 }));

    const verifier = await NodeDaemon.start({
      role: "verifier",
      apiUrl,
      seed: "//Ferdie",
      dataDir: join(dataDir, "ferdie"),
      log: () => undefined,
      claimWaitSeconds: 1,
    });
    try {
      await lifecycle.until(
        (calls) => calls.filter((c) => c.method === "auditCompleted").length === 2,
        60_000,
      );
    } finally {
      await verifier.stop();
    }
    const verdicts = lifecycle.of<AuditVerdict>("auditCompleted");
    assert.deepEqual(
      verdicts.map((v) => v.agrees),
      [true, false],
    );
    const signed = await verifyNodeSignature(
      verifier.identity.address,
      verdictMessage({
        taskId: "task_audited",
        checkpointRoot: run.merkleRoot,
        fromStep: 10,
        fromSha256: run.checkpoints[1]!.sha256,
        toStep: 20,
        toSha256: run.checkpoints[2]!.sha256,
        agrees: true,
      }),
      verdicts[0]!.signature,
    );
    assert.ok(signed);
  });
});
