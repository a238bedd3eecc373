// The producing side: the jobs service enqueues training and audit tasks here. Job ids are
// derived from the task, so enqueueing the same task twice (a retried request, a restarted
// service) adds it once.
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { QueueConnection, TaskKind } from "./names.ts";
import type { AuditTask, LeasedJobData, TaskPayloads, TrainingTask } from "./payloads.ts";
import { QUEUE_POLICIES, type QueuePolicy } from "./policies.ts";
import { bullmqConnection } from "./redis.ts";

export function trainingJobId(task: TrainingTask): string {
  return task.taskId;
}

export function auditJobId(task: AuditTask): string {
  return `${task.taskId}-audit-${task.from.step}-${task.to.step}`;
}

/** The task a queued job works on, from its job id (see trainingJobId and auditJobId). */
export function taskIdOfJob(jobId: string): string {
  return jobId.split("-audit-")[0]!;
}

export class TaskProducer {
  private readonly redis: Redis;
  private readonly queues: { [K in TaskKind]: Queue<LeasedJobData<TaskPayloads[K]>> };

  constructor(
    connection: QueueConnection,
    private readonly policies: Record<TaskKind, QueuePolicy> = QUEUE_POLICIES,
  ) {
    this.redis = bullmqConnection(connection.redisUrl);
    const options = { connection: this.redis, prefix: connection.prefix };
    this.queues = { training: new Queue("training", options), audit: new Queue("audit", options) };
  }

  async enqueueTraining(task: TrainingTask): Promise<string> {
    return this.enqueue("training", trainingJobId(task), task);
  }

  async enqueueAudit(task: AuditTask): Promise<string> {
    return this.enqueue("audit", auditJobId(task), task);
  }

  private async enqueue<K extends TaskKind>(kind: K, jobId: string, task: TaskPayloads[K]): Promise<string> {
    const policy = this.policies[kind];
    const queue = this.queues[kind] as Queue<LeasedJobData<TaskPayloads[K]>>;
    const checkpoints = "resumeFrom" in task && task.resumeFrom ? [task.resumeFrom] : [];
    await queue.add(
      kind,
      { task, checkpoints, holder: null },
      {
        jobId,
        attempts: policy.attempts,
        backoff: { type: "exponential", delay: policy.backoffMs },
        removeOnComplete: { age: policy.keepFinishedSeconds },
        removeOnFail: { age: policy.keepFinishedSeconds },
      },
    );
    return jobId;
  }

  async close(): Promise<void> {
    await Promise.all([this.queues.training.close(), this.queues.audit.close()]);
    this.redis.disconnect();
  }
}
