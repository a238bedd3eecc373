// The delivery dispute through the gateway (chain/PROTOCOL.md §7). The referee reads what the
// platform holds of a committed task: its stored checkpoints and the model they apply to (only the
// operator's key, the referee's, reads it); it trusts none of it, as each checkpoint downloads by
// hash and must form the root the worker committed on chain. A worker named in an open challenge
// answers it by republishing the checkpoints it committed, from its own record: accepted only from
// the task's worker on chain while the challenge is open, on the task's checkpoint schedule, never
// replacing a stored checkpoint's bytes.
import type { Readable } from "node:stream";
import type { Database } from "../../../prisma/client.ts";
import type { Task } from "../../../prisma/generated/client.ts";
import type { CheckpointRef, DeliveryRecord } from "../../../protocol/node-wire.ts";
import { ApiError } from "../../errors.ts";
import { checkpointEveryOf } from "../job-dispatch.ts";
import { startingModelSha256 } from "../job-init.ts";
import type { NodeBlobs } from "./blobs.ts";
import { type GatewayChainReads, requireChain } from "./chain-reads.ts";
import { beforeUpload, checkCheckpoint } from "./training-tasks.ts";

export class Deliveries {
  constructor(
    private readonly db: Database,
    private readonly blobs: NodeBlobs,
    private readonly chain: GatewayChainReads | null,
    /** Addresses that read deliveries: the operator's key, which the referee signs with. */
    private readonly trustedReaders: ReadonlySet<string>,
  ) {}

  private async task(chainTaskId: bigint): Promise<Task> {
    const task = await this.db.task.findUnique({ where: { chainTaskId } });
    if (task === null) {
      throw new ApiError(
        404,
        "not_found_error",
        "delivery_not_found",
        `no task of chain task ${chainTaskId}`,
        "chainTaskId",
      );
    }
    return task;
  }

  async record(node: string, chainTaskId: bigint): Promise<DeliveryRecord> {
    if (!this.trustedReaders.has(node)) {
      throw new ApiError(
        403,
        "permission_error",
        "not_referee",
        "only the referee (the operator's key) reads what was delivered for a task",
        "chainTaskId",
      );
    }
    const task = await this.task(chainTaskId);
    const job = await this.db.trainingJob.findUniqueOrThrow({ where: { id: task.jobId } });
    const [model, checkpoints] = await Promise.all([
      this.db.file.findUniqueOrThrow({ where: { id: job.modelFileId } }),
      this.db.checkpoint.findMany({ where: { taskId: task.id }, orderBy: { step: "asc" } }),
    ]);
    return {
      chain_task_id: chainTaskId.toString(),
      task_ref: task.id,
      model_sha256: startingModelSha256(job, model),
      checkpoints: checkpoints.map((c) => ({ step: c.step, sha256: c.sha256 })),
    };
  }

  /** Refuses a republished checkpoint from anyone but a challenged worker, or off the schedule. */
  private async checkRepublish(
    node: string,
    chainTaskId: bigint,
    step: number,
    sha256: string,
  ): Promise<Task> {
    const onChain = await requireChain(this.chain).task(chainTaskId);
    if (onChain?.status !== "Committed" || onChain.worker !== node || onChain.delivery?.ruling !== null) {
      throw new ApiError(
        409,
        "invalid_request_error",
        "delivery_not_challenged",
        `chain task ${chainTaskId} has no open delivery challenge naming node ${node}`,
        "chainTaskId",
      );
    }
    const task = await this.task(chainTaskId);
    const job = await this.db.trainingJob.findUniqueOrThrow({ where: { id: task.jobId } });
    const recorded = await this.db.checkpoint.findUnique({
      where: { taskId_step: { taskId: task.id, step } },
    });
    checkCheckpoint({ every: checkpointEveryOf(job), total: job.totalSteps }, step, sha256, recorded?.sha256);
    return task;
  }

  async republish(
    node: string,
    chainTaskId: bigint,
    step: number,
    sha256: string,
    content: Readable,
  ): Promise<CheckpointRef> {
    const task = await beforeUpload(content, () => this.checkRepublish(node, chainTaskId, step, sha256));
    const sizeBytes = BigInt(await this.blobs.store("checkpoint", content, sha256));
    await this.db.checkpoint.upsert({
      where: { taskId_step: { taskId: task.id, step } },
      create: { taskId: task.id, step, sha256, sizeBytes },
      update: {},
    });
    return { step, sha256 };
  }
}
