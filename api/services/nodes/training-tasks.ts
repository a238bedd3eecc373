// What a worker does with a training task it leased: report progress, upload checkpoints and the
// trained model, and complete it with a signed Merkle commitment over its checkpoints. Every
// report is checked against the task as queued before the jobs service hears of it.
import type { Readable } from "node:stream";
import type { Database } from "../../../prisma/client.ts";
import type {
  Acknowledged,
  CheckpointRef,
  ClaimRequest,
  Completion,
  ComputeReport,
  Lease as LeaseView,
  Progress,
  StoredModel,
  TrainingClaim,
  TrainingTask,
} from "../../../protocol/node-wire.ts";
import { checkpointRoot } from "../../../protocol/receipt.ts";
import { commitmentMessage, sha256Hex } from "../../../protocol/signed-messages.ts";
import { ApiError } from "../../errors.ts";
import type { JobLifecycle } from "../job-lifecycle.ts";
import type { NodeBlobs } from "./blobs.ts";
import type { NodeLeases } from "./leases.ts";
import { verifyNodeSignature } from "./signatures.ts";
import type { TrainingEvidence } from "./training-evidence.ts";

/**
 * Runs the checks an upload must pass before its bytes are read; a refused upload is drained
 * rather than left unread, as the node is still sending it.
 */
export async function beforeUpload<T>(content: Readable, checks: () => Promise<T>): Promise<T> {
  try {
    return await checks();
  } catch (error) {
    content.resume();
    throw error;
  }
}

/**
 * Refuses a checkpoint off the task's schedule (every `every` steps and at the last, `total`), or
 * one that would replace the bytes already `recorded` for that step.
 */
export function checkCheckpoint(
  schedule: { every: number; total: number },
  step: number,
  sha256: string,
  recorded: string | undefined,
): void {
  const { every, total } = schedule;
  if (step > total || (step % every !== 0 && step !== total)) {
    throw ApiError.badRequest(
      "checkpoint_step_invalid",
      `checkpoints are taken every ${every} steps and at step ${total}; ${step} is neither`,
      "step",
    );
  }
  if (recorded !== undefined && recorded !== sha256) {
    throw new ApiError(
      409,
      "invalid_request_error",
      "checkpoint_conflict",
      `a checkpoint with another hash (${recorded}) is already stored for step ${step}`,
      "step",
    );
  }
}

/**
 * Refuses a compute report of more steps than the work holds (the schema refuses negative, NaN,
 * infinite and absurd figures): it would deflate the CPU per step the platform reads from it.
 */
export function checkComputeReport(report: ComputeReport | undefined, maxSteps: number): void {
  if (report && report.steps > maxSteps) {
    throw ApiError.badRequest(
      "compute_invalid",
      `compute.steps ${report.steps} is more than the ${maxSteps} steps of this work`,
      "compute",
    );
  }
}

export class TrainingTasks {
  constructor(
    private readonly leases: NodeLeases,
    private readonly blobs: NodeBlobs,
    private readonly evidence: TrainingEvidence,
    private readonly lifecycle: JobLifecycle,
    private readonly db: Database,
  ) {}

  /** Runs an evidence check; a refusal is reported against the worker before it is answered. */
  private async refusing(node: string, task: TrainingTask, check: () => Promise<void>): Promise<void> {
    try {
      await check();
    } catch (error) {
      if (error instanceof ApiError) await this.lifecycle.evidenceRefused(task.task_id, node, error.message);
      throw error;
    }
  }

  async claim(
    node: string,
    request: ClaimRequest | undefined,
    signal?: AbortSignal,
  ): Promise<TrainingClaim | null> {
    const lease = await this.leases.claim("training", node, request, signal);
    if (!lease) return null;
    const { task, checkpoints } = lease.data;
    await this.lifecycle.taskStarted(task.task_id, node);
    return {
      lease: this.leases.view(lease),
      attempt: lease.attempt,
      task,
      checkpoints,
      resume_from: checkpoints.at(-1) ?? null,
    };
  }

  async progress(node: string, leaseId: string, progress: Progress): Promise<LeaseView> {
    const lease = await this.leases.renew("training", node, leaseId);
    const { task } = lease.data;
    if (progress.step > task.total_steps || progress.total_steps !== task.total_steps) {
      throw ApiError.badRequest(
        "progress_invalid",
        `step ${progress.step} of ${progress.total_steps} does not fit the task's ${task.total_steps} steps`,
        "step",
      );
    }
    await this.lifecycle.progress(task.task_id, progress);
    return this.leases.view(lease);
  }

  /** Streams a checkpoint into the blob store, checks its hash and records it on the task. */
  async storeCheckpoint(
    node: string,
    leaseId: string,
    step: number,
    sha256: string,
    content: Readable,
  ): Promise<CheckpointRef> {
    const lease = await beforeUpload(content, async () => {
      const renewed = await this.leases.renew("training", node, leaseId);
      const { task, checkpoints } = renewed.data;
      checkCheckpoint(
        { every: task.checkpoint_every, total: task.total_steps },
        step,
        sha256,
        checkpoints.find((c) => c.step === step)?.sha256,
      );
      return renewed;
    });
    const sizeBytes = await this.blobs.store("checkpoint", content, sha256);
    await this.refusing(node, lease.data.task, () =>
      this.evidence.checkCheckpoint(lease.data.task, step, sha256),
    );
    const checkpoint = { step, sha256 };
    await this.leases.recordCheckpoint(node, leaseId, checkpoint);
    await this.lifecycle.checkpointStored(lease.data.task.task_id, { step, sha256, sizeBytes });
    return checkpoint;
  }

  /**
   * Streams the trained model into the blob store. Optional: `complete` stores the platform's own
   * derivation, which an honest worker's upload equals byte for byte.
   */
  async storeModel(node: string, leaseId: string, sha256: string, content: Readable): Promise<StoredModel> {
    await beforeUpload(content, () => this.leases.renew("training", node, leaseId));
    await this.blobs.store("model", content, sha256);
    return { sha256 };
  }

  async complete(node: string, leaseId: string, completion: Completion): Promise<Acknowledged> {
    const lease = await this.leases.renew("training", node, leaseId);
    const { task, checkpoints } = lease.data;
    checkComputeReport(completion.compute, task.total_steps);
    const stored = checkpoints.map((c) => c.sha256);
    if (
      checkpoints.at(-1)?.step !== task.total_steps ||
      completion.leaves.length !== stored.length ||
      completion.leaves.some((leaf, i) => leaf !== stored[i])
    ) {
      throw ApiError.badRequest(
        "commitment_invalid",
        `leaves must be the hashes of the checkpoints stored for this task, in step order, ending at step ${task.total_steps} (stored steps: ${checkpoints.map((c) => c.step).join(", ") || "none"})`,
        "leaves",
      );
    }
    const root = checkpointRoot(completion.leaves);
    if (root !== completion.checkpoint_root) {
      throw ApiError.badRequest(
        "commitment_invalid",
        `checkpoint_root ${completion.checkpoint_root} is not the Merkle root of the leaves (${root})`,
        "checkpoint_root",
      );
    }
    const commitment = {
      taskId: task.task_id,
      checkpointRoot: root,
      leafCount: stored.length,
      modelSha256: completion.model_sha256,
    };
    if (!(await verifyNodeSignature(node, commitmentMessage(commitment), completion.commitment_signature))) {
      throw ApiError.badRequest(
        "commitment_invalid",
        "commitment_signature is not this node's sr25519 signature of its commitment",
        "commitment_signature",
      );
    }
    // The delivered model is the platform's derivation from the last checkpoint, never bytes the
    // worker chose: a worker's commitment must name exactly that model. One that names another has
    // signed for it, and that signature is kept: it is the evidence of a delivery challenge.
    const delivered = await this.evidence.deliveredModel(task, stored.at(-1)!);
    const deliveredSha256 = sha256Hex(delivered);
    if (completion.model_sha256 !== deliveredSha256) {
      const refused = ApiError.badRequest(
        "model_mismatch",
        `model_sha256 ${completion.model_sha256} is not the model derived from the last checkpoint (${deliveredSha256})`,
        "model_sha256",
      );
      await this.lifecycle.evidenceRefused(task.task_id, node, refused.message, {
        task_ref: task.task_id,
        checkpoint_root: root,
        leaf_count: stored.length,
        model_sha256: completion.model_sha256,
        signature: completion.commitment_signature,
      });
      throw refused;
    }
    await this.evidence.keepDelivered(delivered);
    await this.lifecycle.trainingCompleted(task.task_id, {
      modelSha256: completion.model_sha256,
      checkpointRoot: root,
      leaves: completion.leaves,
      metrics: completion.metrics,
      workerAddress: node,
      commitmentSignature: completion.commitment_signature,
    });
    if (completion.compute) {
      await this.db.task.updateMany({
        where: { id: task.task_id },
        data: { workerCpuSeconds: completion.compute.cpu_seconds, workerSteps: completion.compute.steps },
      });
    }
    await this.leases.complete("training", node, leaseId, { checkpointRoot: root });
    return { status: "completed" };
  }
}
