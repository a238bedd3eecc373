// What the referee of a delivery challenge reads through the gateway (chain/PROTOCOL.md §7): the
// checkpoints the platform holds for a committed task and the model they are applied to. Only the
// operator's key (the referee's) reads it. The referee trusts none of it: each checkpoint downloads
// by hash and must form the root the worker committed on chain.
import type { Database } from "../../../prisma/client.ts";
import type { DeliveryRecord } from "../../../protocol/node-wire.ts";
import { ApiError } from "../../errors.ts";

export class Deliveries {
  constructor(
    private readonly db: Database,
    /** Addresses that read deliveries: the operator's key, which the referee signs with. */
    private readonly trustedReaders: ReadonlySet<string>,
  ) {}

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
    const job = await this.db.trainingJob.findUniqueOrThrow({ where: { id: task.jobId } });
    const [model, checkpoints] = await Promise.all([
      this.db.file.findUniqueOrThrow({ where: { id: job.modelFileId } }),
      this.db.checkpoint.findMany({ where: { taskId: task.id }, orderBy: { step: "asc" } }),
    ]);
    return {
      chain_task_id: chainTaskId.toString(),
      task_ref: task.id,
      model_sha256: model.sha256,
      checkpoints: checkpoints.map((c) => ({ step: c.step, sha256: c.sha256 })),
    };
  }
}
