// Ends a job the way the network would, for tests of what users do with a finished job, without a
// chain or nodes: progress events as a worker reports them, and for a success the trained model in
// the blob store and a receipt whose every signature verifies (the worker's commitment and a
// verdict by dev accounts, the platform's by the stack's own key).

import { join } from "node:path";
import { Readable } from "node:stream";
import { Keyring } from "@polkadot/keyring";
import { u8aToHex } from "@polkadot/util";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { FilesystemBlobStore } from "../../api/services/blobs.ts";
import type { UserReasonCode } from "../../api/services/failure-reasons.ts";
import { taskIdOf } from "../../api/services/job-dispatch.ts";
import { JobSettlement } from "../../api/services/job-settlement.ts";
import { PlatformKey } from "../../api/services/platform-key.ts";
import { WebhookOutbox } from "../../api/services/webhooks/outbox.ts";
import { checkpointRoot, type Receipt, type ReceiptBody, specHash } from "../../protocol/receipt.ts";
import {
  commitmentMessage,
  receiptMessage,
  sha256Hex,
  verdictMessage,
} from "../../protocol/signed-messages.ts";
import type { TestApp } from "./app.ts";

/** What a worker reports while training: progress events for `steps`, and the first epoch's metrics. */
export async function reportTraining(t: TestApp, jobId: string, steps: number[], totalSteps: number) {
  await t.database.db.trainingJob.update({ where: { id: jobId }, data: { status: "running" } });
  await t.services.jobEvents.emit(jobId, "training.started", { worker: "5worker" });
  for (const step of steps) {
    await t.services.jobEvents.emit(jobId, "training.progress", {
      step,
      total_steps: totalSteps,
      loss: 2 / step,
      learning_rate: 0.01,
      steps_per_second: 42.5,
    });
  }
  await t.services.jobEvents.emit(jobId, "training.epoch", {
    epoch: 0,
    last_step: steps.at(-1),
    train_samples: 1440,
    train_loss: 0.25,
    train_accuracy: 0.9,
    val_loss: 0.3,
    val_accuracy: 0.875,
    steps_per_second: 42.5,
  });
}

/** A finished epoch with these validation figures, recorded as the node gateway records a worker's report. */
export async function recordEpoch(t: TestApp, jobId: string, validation: { loss: number; accuracy: number }) {
  await t.database.db.trainingJob.update({
    where: { id: jobId },
    data: {
      epochMetrics: [
        {
          epoch: 0,
          last_step: 90,
          train_samples: 1440,
          train_loss: validation.loss,
          train_accuracy: null,
          val_loss: validation.loss,
          val_accuracy: validation.accuracy,
          steps_per_second: 40,
        },
      ],
    },
  });
}

function settlement(t: TestApp): JobSettlement {
  return new JobSettlement({
    db: t.database.db,
    ledger: t.services.ledger,
    events: t.services.jobEvents,
    webhooks: new WebhookOutbox(undefined),
  });
}

export async function failJob(t: TestApp, jobId: string, reason: UserReasonCode): Promise<void> {
  const job = await t.database.db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
  await settlement(t).finish(job, "failed", reason, 0);
}

/** A receipt for `model` signed like a real one; `platformKey` defaults to the stack's. */
export async function signedReceipt(t: TestApp, jobId: string, model: Uint8Array, platformKey?: PlatformKey) {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  const worker = keyring.addFromUri("//Bob");
  const verifier = keyring.addFromUri("//Charlie");
  const job = await t.database.db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
  const key = platformKey ?? PlatformKey.load(t.config.platformSigningKey, t.config.dataDir);
  const taskId = taskIdOf(jobId);
  const leaves = [sha256Hex("checkpoint 0"), sha256Hex("checkpoint 10")];
  const root = checkpointRoot(leaves);
  const modelSha256 = sha256Hex(model);
  const verdict = {
    taskId,
    checkpointRoot: root,
    fromStep: 0,
    fromSha256: leaves[0]!,
    toStep: 10,
    toSha256: leaves[1]!,
  };
  const body: ReceiptBody = {
    version: 1,
    job_id: jobId,
    task_id: taskId,
    issued_at: new Date().toISOString(),
    model_sha256: sha256Hex("the uploaded model"),
    dataset_sha256: sha256Hex("the uploaded dataset"),
    spec_sha256: specHash(job.spec),
    spec: job.spec,
    verification_level: job.verificationLevel,
    profile_blake2_256: job.profileHash,
    result: { model_sha256: modelSha256, metrics: {} },
    checkpoints: { interval: 10, steps: [0, 10], leaves, root },
    worker: {
      address: worker.address,
      attempt: 0,
      commitment_signature: u8aToHex(
        worker.sign(commitmentMessage({ taskId, checkpointRoot: root, leafCount: 2, modelSha256 })),
      ),
    },
    audits: [
      {
        verifier: verifier.address,
        from_step: 0,
        to_step: 10,
        leaf_from: leaves[0]!,
        leaf_to: leaves[1]!,
        agrees: true,
        signature: u8aToHex(verifier.sign(verdictMessage({ ...verdict, agrees: true }))),
      },
    ],
    challenges: [],
    chain: { genesis_hash: `0x${"00".repeat(32)}`, task_id: "0", anchors: [] },
    platform: { public_key: key.publicKeyHex },
  };
  return { body, signature: key.signHex(receiptMessage(body)) } satisfies Receipt;
}

/** Stores `model` as the job's trained model and ends the job succeeded with `receipt`. */
export async function succeedJob(
  t: TestApp,
  jobId: string,
  model: Uint8Array,
  receipt: Receipt,
): Promise<void> {
  const staged = await new FilesystemBlobStore(join(t.config.dataDir, "blobs")).stage(
    Readable.from([Buffer.from(model)]),
    model.byteLength,
  );
  await staged.commit();
  const job = await t.database.db.trainingJob.update({
    where: { id: jobId },
    data: { resultSha256: staged.sha256 },
  });
  await settlement(t).finish(job, "succeeded", null, Number(job.reservedCents), { receipt });
}
