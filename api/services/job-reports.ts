// What the node gateway reports about a job's task (the JobLifecycle contract), turned into the
// job's state, its events and, when the task fails, its settlement. Every transition is a row
// update guarded by the state it leaves, so a duplicate report or a second API process cannot
// apply one twice.
import type { ChainBridge } from "../../chain-bridge/index.ts";
import type { Database } from "../../prisma/client.ts";
import type { Prisma } from "../../prisma/generated/client.ts";
import type { AuditTask, Progress, TrainingTask } from "../../protocol/node-wire.ts";
import { checkpointRoot } from "../../protocol/receipt.ts";
import { DomainError, NotFoundError } from "./domain-errors.ts";
import type { UserReasonCode } from "./failure-reasons.ts";
import type { JobEvents } from "./job-events.ts";
import type {
  AuditVerdict,
  CheckpointReport,
  JobLifecycle,
  RefusedClaim,
  TrainingResult,
} from "./job-lifecycle.ts";
import { type JobSettlement, TERMINAL } from "./job-settlement.ts";

/** A worker's completion that the task's record on chain does not back. */
export const EVIDENCE_REFUSED = "training.evidence_refused";

export class CommitmentError extends DomainError<"not_committed" | "commitment_mismatch"> {}

export interface JobReportsDeps {
  db: Database;
  events: JobEvents;
  settlement: JobSettlement;
  /** Absent in a process without the chain bridge: then no task is on chain to check against. */
  chain?: ChainBridge;
  /** Where a node's inconsistent delivery is described: the user gets a plain reason. */
  logError?: (error: unknown, context: string) => void;
}

export class JobReports implements JobLifecycle {
  constructor(private readonly deps: JobReportsDeps) {}

  async isCurrentDuty(work: TrainingTask | AuditTask, node: string): Promise<boolean> {
    const { chain } = this.deps;
    if (!work.chain || !chain) return true;
    const state = await chain.taskState(work.task_id);
    if (state.attempt !== work.chain.attempt) return false;
    if ("audit_index" in work.chain) {
      const audit = state.audits[work.chain.audit_index];
      const open = state.status === "Auditing" && audit?.verifier === node && audit.verdict === null;
      return open && (await chain.head()) <= state.verdictDeadline;
    }
    return state.status === "Assigned" && state.worker === node;
  }

  async taskStarted(taskId: string, workerAddress: string): Promise<void> {
    const jobId = await this.jobOfTask(taskId);
    const { count } = await this.deps.db.trainingJob.updateMany({
      where: { id: jobId, status: "queued" },
      data: { status: "running" },
    });
    if (count > 0) await this.deps.events.emit(jobId, "training.started", { worker: workerAddress });
  }

  /**
   * A progress report; one that closes an epoch also appends its metrics to the job's history and
   * streams them as training.epoch. An epoch already kept (a retried report, or a resumed attempt
   * re-running it) is not added twice.
   */
  async progress(taskId: string, progress: Progress): Promise<void> {
    const jobId = await this.jobOfTask(taskId);
    const { epoch, ...step } = progress;
    await this.deps.events.emit(jobId, "training.progress", { ...step });
    if (!epoch) return;
    const appended = await this.deps.db.$executeRaw`
      UPDATE training_jobs SET epoch_metrics = epoch_metrics || jsonb_build_array(${JSON.stringify(epoch)}::jsonb)
      WHERE id = ${jobId}
        AND NOT epoch_metrics @> jsonb_build_array(jsonb_build_object('epoch', ${epoch.epoch}::int))`;
    if (appended > 0) await this.deps.events.emit(jobId, "training.epoch", { ...epoch });
  }

  async checkpointStored(taskId: string, checkpoint: CheckpointReport): Promise<void> {
    const jobId = await this.jobOfTask(taskId);
    await this.deps.db.checkpoint.upsert({
      where: { taskId_step: { taskId, step: checkpoint.step } },
      create: {
        taskId,
        step: checkpoint.step,
        sha256: checkpoint.sha256,
        sizeBytes: BigInt(checkpoint.sizeBytes),
      },
      update: {},
    });
    await this.deps.events.emit(jobId, "checkpoint.stored", {
      step: checkpoint.step,
      sha256: checkpoint.sha256,
    });
  }

  /**
   * The worker delivered the model and its signed commitment. Where the task is on chain, the
   * worker must have committed the same root there first: the chain's record is what verifiers
   * audit and what the escrow pays for.
   */
  async trainingCompleted(taskId: string, result: TrainingResult): Promise<void> {
    const jobId = await this.jobOfTask(taskId);
    const root = checkpointRoot(result.leaves);
    if (root !== result.checkpointRoot) {
      this.deps.logError?.(
        new Error(`checkpoint root ${result.checkpointRoot} does not match its leaves (computed ${root})`),
        `worker ${result.workerAddress} delivered task ${taskId}`,
      );
      await this.taskFailed(taskId, "invalid_delivery", true);
      return;
    }
    await this.requireCommitted(taskId, result);
    const updated = await this.deps.db.$transaction(async (tx) => {
      const { count } = await tx.trainingJob.updateMany({
        where: { id: jobId, status: { in: ["queued", "running"] } },
        data: {
          status: "verifying",
          resultSha256: result.modelSha256,
          resultMetrics: result.metrics as Prisma.InputJsonValue,
        },
      });
      if (count > 0) {
        await tx.task.update({
          where: { id: taskId },
          data: { commitmentSignature: result.commitmentSignature },
        });
      }
      return count > 0;
    });
    if (updated) {
      await this.deps.events.emit(jobId, "training.completed", {
        model_sha256: result.modelSha256,
        checkpoint_root: root,
        checkpoints: result.leaves.length,
        metrics: result.metrics,
      });
    }
  }

  async auditCompleted(taskId: string, verdict: AuditVerdict): Promise<void> {
    const jobId = await this.jobOfTask(taskId);
    if (verdict.chain) {
      const key = { taskId, attempt: verdict.chain.attempt, auditIndex: verdict.chain.auditIndex };
      await this.deps.db.taskAudit.upsert({
        where: { taskId_attempt_auditIndex: key },
        create: {
          ...key,
          segment: verdict.chain.segment,
          verifierAddress: verdict.verifierAddress,
          verdictSignature: verdict.signature,
        },
        update: { verdictSignature: verdict.signature },
      });
    }
    await this.deps.events.emit(jobId, "verification.verdict", {
      verifier: verdict.verifierAddress,
      from_step: verdict.fromStep,
      to_step: verdict.toStep,
      agrees: verdict.agrees,
    });
  }

  async evidenceRefused(taskId: string, worker: string, reason: string, claim?: RefusedClaim): Promise<void> {
    await this.deps.events.emit(await this.jobOfTask(taskId), EVIDENCE_REFUSED, {
      worker,
      reason,
      ...(claim ? { claim } : {}),
    });
  }

  /**
   * A worker that gave up after the gateway refused its evidence is a cheat, not a casualty: where
   * the task is on chain it stays with that worker until its commit deadline, when the chain
   * slashes it and the verification driver hands the task to another worker. Any other failure
   * (the model diverged, the node kept crashing) fails the job at no charge, as every worker
   * might meet it and none should be slashed for a customer's model.
   */
  async trainingAbandoned(taskId: string): Promise<void> {
    const task = await this.deps.db.task.findUnique({ where: { id: taskId } });
    if (task?.chainTaskId != null && task.workerAddress) {
      const refusals = await this.deps.db.jobEvent.findMany({
        where: { jobId: task.jobId, type: EVIDENCE_REFUSED },
      });
      if (refusals.some((event) => (event.data as { worker?: unknown }).worker === task.workerAddress)) {
        await this.deps.events.emit(task.jobId, "training.abandoned", {
          worker: task.workerAddress,
          reason:
            "the worker gave up after its evidence was refused; another worker takes the task over once its commit deadline passes",
        });
        return;
      }
    }
    await this.taskFailed(taskId, "worker_failed", true);
  }

  async taskFailed(taskId: string, reason: UserReasonCode, networkFault: boolean): Promise<void> {
    const job = await this.deps.db.trainingJob.findUniqueOrThrow({
      where: { id: await this.jobOfTask(taskId) },
    });
    if (TERMINAL.has(job.status)) return;
    await this.deps.settlement.fail(job, taskId, reason, networkFault);
  }

  private async requireCommitted(taskId: string, result: TrainingResult): Promise<void> {
    const { chain } = this.deps;
    const task = await this.deps.db.task.findUnique({ where: { id: taskId } });
    if (!chain || task?.chainTaskId === null || task?.chainTaskId === undefined) return;
    const state = await chain.taskState(taskId);
    const committed = state.commitment;
    if (state.worker !== result.workerAddress || committed === null) {
      throw new CommitmentError(
        "not_committed",
        `commit the checkpoint root on chain (compute.commit of chain task ${task.chainTaskId}, attempt ${state.attempt}) before completing the task`,
      );
    }
    if (committed.root.replace(/^0x/, "") !== result.checkpointRoot) {
      throw new CommitmentError(
        "commitment_mismatch",
        `the root committed on chain (${committed.root}) is not the checkpoint root reported (${result.checkpointRoot})`,
        "checkpoint_root",
      );
    }
  }

  private async jobOfTask(taskId: string): Promise<string> {
    const task = await this.deps.db.task.findUnique({ where: { id: taskId }, select: { jobId: true } });
    if (!task) throw new NotFoundError("task", taskId, "task_id");
    return task.jobId;
  }
}
