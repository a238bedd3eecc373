// The producing side: the jobs service enqueues training and audit tasks here, each into the
// queue of the node the chain gave it to. Job ids are derived from the task and the attempt, so
// enqueueing the same work twice (a retried request, a restarted service) adds it once.
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { AuditTask, CheckpointRef, TrainingTask } from "../protocol/node-wire.ts";
import { closeWithin } from "./closing.ts";
import { type QueueConnection, queueNameOf, type TaskKind } from "./names.ts";
import type { LeasedJobData, TaskPayloads } from "./payloads.ts";
import { QUEUE_POLICIES, type QueuePolicy } from "./policies.ts";
import { bullmqConnection } from "./redis.ts";

export function trainingJobId(task: TrainingTask): string {
  return `${task.task_id}-training-${task.chain?.attempt ?? 0}`;
}

export function auditJobId(task: AuditTask): string {
  return `${task.task_id}-audit-${task.chain?.attempt ?? 0}-${task.from.step}-${task.to.step}`;
}

/** The task a queued job works on, from its job id (see trainingJobId and auditJobId). */
export function taskIdOfJob(jobId: string): string {
  const match = /^(.+?)-(?:training|audit)-/.exec(jobId);
  if (!match) throw new TypeError(`"${jobId}" is not a queued task's job id`);
  return match[1]!;
}

export class TaskProducer {
  private readonly redis: Redis;
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: QueueConnection,
    private readonly policies: Record<TaskKind, QueuePolicy> = QUEUE_POLICIES,
  ) {
    this.redis = bullmqConnection(connection.redisUrl);
  }

  /**
   * Queues training for `node`. `checkpoints` are those earlier attempts stored: the node resumes
   * from the last one and its Merkle leaves start with them.
   */
  async enqueueTraining(
    node: string,
    task: TrainingTask,
    checkpoints: CheckpointRef[] = [],
  ): Promise<string> {
    return this.enqueue("training", node, trainingJobId(task), { task, checkpoints, holder: null });
  }

  async enqueueAudit(node: string, task: AuditTask): Promise<string> {
    return this.enqueue("audit", node, auditJobId(task), { task, checkpoints: [], holder: null });
  }

  private async enqueue<K extends TaskKind>(
    kind: K,
    node: string,
    jobId: string,
    data: LeasedJobData<TaskPayloads[K]>,
  ): Promise<string> {
    const policy = this.policies[kind];
    await this.queue(kind, node).add(kind, data, {
      jobId,
      attempts: policy.attempts,
      backoff: { type: "exponential", delay: policy.backoffMs },
      removeOnComplete: { age: policy.keepFinishedSeconds },
      removeOnFail: { age: policy.keepFinishedSeconds },
    });
    return jobId;
  }

  private queue(kind: TaskKind, node: string): Queue {
    const name = queueNameOf(kind, node);
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.redis, prefix: this.connection.prefix });
      this.queues.set(name, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    await closeWithin(
      async () => {
        await Promise.all([...this.queues.values()].map((queue) => queue.close()));
      },
      () => this.redis.disconnect(),
    );
  }
}
