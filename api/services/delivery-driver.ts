// The platform's part in a task's delivery dispute (PROTOCOL.md §7, "Undelivered commit"). The
// worker commits its checkpoint root on chain, but its checkpoints and the model reach the
// platform through the node gateway; a worker that committed and never delivered (it withheld the
// checkpoints, or named a model its checkpoints do not give) is challenged instead of being quietly
// replaced, and the referee (worker-runtime/node/referee.ts) rules:
//  * past the delivery window without a completion, the driver challenges the commit, with the
//    worker's own signed claim when the gateway refused its model (`verification.delivery_challenged`);
//  * `Undelivered` or `FalseClaim`: the worker is slashed, the chain re-assigned the task; the
//    checkpoints of the void attempt, which no audit vouches for, are dropped and the training is
//    queued for the new worker (`verification.delivery_ruled`, `training.rerun`);
//  * `Delivered`: the bond pays the worker; one that never completes (it crashed for good) is
//    completed on its behalf from the stored checkpoints, and audits follow;
//  * no ruling by the challenge's end: the driver closes it, the attempt is void and nobody is
//    slashed (`verification.delivery_ruled` with outcome `lapsed`, `training.rerun`).
// Challenges and rulings are read from the event journal and told and carried out once each.
import type { ChainBridge, DeliveryClaimInput, TaskView } from "../../chain-bridge/index.ts";
import type { Database } from "../../prisma/client.ts";
import type { ChainEvent, Task, TrainingJob } from "../../prisma/generated/client.ts";
import { checkpointRoot } from "../../protocol/receipt.ts";
import type { JobDispatcher } from "./job-dispatch.ts";
import type { JobEvents } from "./job-events.ts";
import type { JobLifecycle, RefusedClaim, TrainingResult } from "./job-lifecycle.ts";
import { EVIDENCE_REFUSED } from "./job-reports.ts";
import type { TrainingEvidence } from "./nodes/training-evidence.ts";

/**
 * How the platform completes a task on its worker's behalf once the referee ruled its commit
 * delivered and the worker never completed: the model derived from the last stored checkpoint,
 * and the completion the gateway would have reported (job-reports.ts).
 */
export interface OnBehalfCompletion {
  /** Derives the delivered model from the last checkpoint, keeps it in the blob store, returns its SHA-256. */
  deliveredModel(modelSha256: string, lastCheckpointSha256: string): Promise<string>;
  trainingCompleted(taskId: string, result: TrainingResult): Promise<void>;
}

/** The completion on a worker's behalf from the platform's own derivation and job reports. */
export function onBehalfCompletion(
  evidence: TrainingEvidence,
  reports: Pick<JobLifecycle, "trainingCompleted">,
): OnBehalfCompletion {
  return {
    deliveredModel: async (modelSha256, lastLeaf) =>
      evidence.keepDelivered(await evidence.deliveredModel({ model_sha256: modelSha256 }, lastLeaf)),
    trainingCompleted: (taskId, result) => reports.trainingCompleted(taskId, result),
  };
}

export interface DeliveryDriverDeps {
  db: Database;
  chain: ChainBridge;
  dispatcher: JobDispatcher;
  events: JobEvents;
  /** Without it, a job whose worker was ruled to have delivered waits for the worker to complete. */
  completion?: OnBehalfCompletion;
}

export const DELIVERY_CHALLENGED = "verification.delivery_challenged";
export const DELIVERY_RULED = "verification.delivery_ruled";

type Ruling = "delivered" | "undelivered" | "false_claim" | "lapsed";

const CONSEQUENCES: Record<Ruling, string> = {
  delivered:
    "the worker's checkpoints are all there and form the root it committed: it is not at fault, and verification goes on",
  undelivered:
    "the worker committed a result it never delivered: it is slashed and not paid; another worker trains the job again, at no extra cost to you",
  false_claim:
    "the worker signed for a model its own checkpoints do not give: it is slashed and not paid; another worker trains the job again, at no extra cost to you",
  lapsed:
    "no ruling came in time: nobody is slashed, the worker is not paid, and another worker trains the job again, at no extra cost to you",
};

/** The ruling a journaled DeliveryRuled or DeliveryLapsed event records. */
function rulingOf(event: ChainEvent): Ruling {
  if (event.name === "DeliveryLapsed") return "lapsed";
  const outcome = String((event.data as { outcome?: unknown }).outcome);
  if (outcome === "Delivered") return "delivered";
  return outcome === "FalseClaim" ? "false_claim" : "undelivered";
}

export class DeliveryDriver {
  constructor(private readonly deps: DeliveryDriverDeps) {}

  /**
   * The `Committed` task's delivery: challenges a commit past its window that never completed,
   * closes a challenge nobody ruled on, and holds the task while one is open. True when the pass
   * is over for this task (the usual audit selection must not run).
   */
  async advance(
    task: Task,
    state: TaskView,
    head: number,
    job: TrainingJob,
    windowEnd: number,
  ): Promise<boolean> {
    const { delivery } = state;
    if (delivery !== null && delivery.ruling === null) {
      if (head > delivery.lapsesAfter) {
        await this.deps.chain.closeDelivery(task.id, state.attempt);
      }
      return true;
    }
    if (delivery !== null && job.status !== "verifying") {
      await this.completeOnBehalf(task, state);
      return true;
    }
    if (delivery !== null || job.status === "verifying" || head <= windowEnd)
      return job.status !== "verifying";
    // The job hears of the challenge from the journal (record), like of its end.
    await this.deps.chain.challengeDelivery(task.id, state.attempt, await this.refusedClaim(task, state));
    return true;
  }

  /**
   * Tells the job of every delivery challenge and ruling the journal shows that it has not heard
   * of, in chain order, and carries out each ruling once. A ruling ends the challenge before it.
   */
  async record(task: Task, state: TaskView): Promise<void> {
    if (task.chainTaskId === null) return;
    const { db } = this.deps;
    const [journal, told] = await Promise.all([
      db.chainEvent.findMany({
        where: {
          chainTaskId: task.chainTaskId,
          pallet: "Compute",
          name: { in: ["DeliveryChallenged", "DeliveryRuled", "DeliveryLapsed"] },
        },
        orderBy: [{ blockNumber: "asc" }, { eventIndex: "asc" }],
      }),
      db.jobEvent.findMany({
        where: { jobId: task.jobId, type: { in: [DELIVERY_CHALLENGED, DELIVERY_RULED] } },
        select: { type: true },
      }),
    ]);
    const toldOf = (type: string) => told.filter((event) => event.type === type).length;
    let challenges = 0;
    let rulings = 0;
    let attempt = state.attempt;
    for (const event of journal) {
      if (event.name === "DeliveryChallenged") {
        attempt = Number((event.data as { attempt?: unknown }).attempt);
        if (challenges++ >= toldOf(DELIVERY_CHALLENGED)) await this.challenged(task, event, attempt);
      } else if (rulings++ >= toldOf(DELIVERY_RULED)) {
        await this.ruled(task, event, attempt);
      }
    }
  }

  private async challenged(task: Task, event: ChainEvent, attempt: number): Promise<void> {
    const data = event.data as {
      worker?: unknown;
      claimedModel?: unknown;
      deadline?: unknown;
      lapsesAfter?: unknown;
    };
    const worker = String(data.worker);
    const claimed = typeof data.claimedModel === "string" ? data.claimedModel.replace(/^0x/, "") : null;
    await this.deps.events.emit(task.jobId, DELIVERY_CHALLENGED, {
      attempt,
      worker,
      claimed_model_sha256: claimed,
      reason:
        claimed === null
          ? `worker ${worker} committed its checkpoints on chain but never delivered them and the model`
          : `worker ${worker} signed for model ${claimed}, which is not the model its last checkpoint gives`,
      worker_deadline_block: Number(data.deadline),
      lapses_after_block: Number(data.lapsesAfter),
      block_number: event.blockNumber,
    });
  }

  private async ruled(task: Task, event: ChainEvent, attempt: number): Promise<void> {
    const { db, events } = this.deps;
    const ruling = rulingOf(event);
    const worker = String((event.data as { worker?: unknown }).worker);
    const data = {
      attempt,
      worker,
      outcome: ruling,
      consequence: CONSEQUENCES[ruling],
      block_number: event.blockNumber,
    };
    if (ruling === "delivered" || ruling === "lapsed") {
      await events.emit(task.jobId, DELIVERY_RULED, data);
      if (ruling === "lapsed") await this.handOver(task, "the delivery challenge lapsed without a ruling");
      return;
    }
    // No audit ran in the void attempt: none of its checkpoints is vouched for. Leaf 0 is the
    // platform's own.
    const recorded = await db.$transaction(async (tx) => {
      const dropped = await tx.checkpoint.deleteMany({ where: { taskId: task.id, step: { gt: 0 } } });
      await tx.trainingJob.updateMany({
        where: { id: task.jobId, status: { in: ["verifying", "running"] } },
        data: { status: "running", resultSha256: null },
      });
      return events.record(task.jobId, DELIVERY_RULED, { ...data, checkpoints_dropped: dropped.count }, tx);
    });
    await events.publish(task.jobId, recorded);
    await this.handOver(task, "the previous worker was slashed for not delivering what it committed");
  }

  /** Queues the training for the worker the chain drew after the void attempt. */
  private async handOver(task: Task, reason: string): Promise<void> {
    const next = await this.deps.chain.taskState(task.id);
    if (next.status !== "Assigned" || next.worker === null) return;
    await this.deps.dispatcher.queueAssigned(task.id, next);
    const resumed = await this.deps.db.checkpoint.findFirst({
      where: { taskId: task.id },
      orderBy: { step: "desc" },
      select: { step: true },
    });
    await this.deps.events.emit(task.jobId, "training.rerun", {
      worker: next.worker,
      attempt: next.attempt,
      resumes_from_step: resumed?.step ?? 0,
      commit_deadline_block: next.commitDeadline,
      reason,
    });
  }

  /**
   * The referee found every committed checkpoint stored, forming the root: the job goes on as if
   * the worker had completed, with the model derived from the last one. The worker never signed
   * for it; the receipt stands its commit on chain and the ruling in for the signature.
   */
  private async completeOnBehalf(task: Task, state: TaskView): Promise<void> {
    const { completion } = this.deps;
    if (!completion || state.worker === null || state.commitment === null) return;
    const stored = await this.deps.db.checkpoint.findMany({
      where: { taskId: task.id },
      orderBy: { step: "asc" },
    });
    const leaves = stored.map((c) => c.sha256);
    const root = checkpointRoot(leaves);
    // Not the committed checkpoints (one dropped or added since the ruling): wait for the worker.
    if (`0x${root}` !== state.commitment.root) return;
    const { inputs } = await this.deps.dispatcher.workInputs(task);
    const modelSha256 = await completion.deliveredModel(inputs.model_sha256, leaves.at(-1)!);
    await completion.trainingCompleted(task.id, {
      modelSha256,
      checkpointRoot: root,
      leaves,
      metrics: { completed_by: "platform", reason: "the referee ruled the worker's commit delivered" },
      workerAddress: state.worker,
      commitmentSignature: null,
    });
  }

  /**
   * The worker's own signed commitment to the committed root, which the gateway refused because
   * its model is not the one the last checkpoint gives (job-reports.ts records it), if any.
   */
  private async refusedClaim(task: Task, state: TaskView): Promise<DeliveryClaimInput | null> {
    const refusals = await this.deps.db.jobEvent.findMany({
      where: { jobId: task.jobId, type: EVIDENCE_REFUSED },
      orderBy: { id: "desc" },
    });
    const root = state.commitment?.root.replace(/^0x/, "");
    for (const refusal of refusals) {
      const { worker, claim } = refusal.data as { worker?: unknown; claim?: RefusedClaim };
      if (worker !== state.worker || claim === undefined) continue;
      if (claim.checkpoint_root !== root || claim.leaf_count !== state.commitment?.checkpoints) continue;
      return { taskRef: claim.task_ref, modelSha256: claim.model_sha256, signature: claim.signature };
    }
    return null;
  }
}
