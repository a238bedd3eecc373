// A node gateway served over HTTP with queues of its own, reporting to a recording lifecycle
// instead of the jobs service: what the gateway tests and the node daemon tests stand on.
import assert from "node:assert/strict";
import { type App, buildApp } from "../../api/app.ts";
import { createNodeGateway, type NodeGateway } from "../../api/services/index.ts";
import type {
  AuditVerdict,
  CheckpointReport,
  JobLifecycle,
  TrainingResult,
} from "../../api/services/job-lifecycle.ts";
import type { GatewayChainReads } from "../../api/services/nodes/chain-reads.ts";
import type { AuditTask, Progress, TrainingTask } from "../../protocol/node-wire.ts";
import type { QueueConnection } from "../../queue/names.ts";
import type { QueuePolicy } from "../../queue/policies.ts";
import { TaskProducer } from "../../queue/producers.ts";
import type { TestApp } from "./app.ts";

export interface LifecycleCall {
  method: keyof JobLifecycle;
  taskId: string;
  detail: unknown;
}

/** Records what the gateway reports, in order, and lets a test act or wait on a report. */
export class RecordingLifecycle implements JobLifecycle {
  readonly calls: LifecycleCall[] = [];
  onCheckpoint: (checkpoint: CheckpointReport) => void = () => undefined;
  /** Whether queued work is still its node's duty; everything is, unless a test says otherwise. */
  currentDuty: (work: TrainingTask | AuditTask, node: string) => boolean = () => true;
  private waiters: Array<() => void> = [];

  private push(method: keyof JobLifecycle, taskId: string, detail: unknown) {
    this.calls.push({ method, taskId, detail });
    for (const wake of this.waiters.splice(0)) wake();
  }

  async isCurrentDuty(work: TrainingTask | AuditTask, node: string) {
    return this.currentDuty(work, node);
  }
  async taskStarted(taskId: string, workerAddress: string) {
    this.push("taskStarted", taskId, workerAddress);
  }
  async progress(taskId: string, progress: Progress) {
    this.push("progress", taskId, progress);
  }
  async checkpointStored(taskId: string, checkpoint: CheckpointReport) {
    this.onCheckpoint(checkpoint);
    this.push("checkpointStored", taskId, checkpoint);
  }
  async trainingCompleted(taskId: string, result: TrainingResult) {
    this.push("trainingCompleted", taskId, result);
  }
  async auditCompleted(taskId: string, verdict: AuditVerdict) {
    this.push("auditCompleted", taskId, verdict);
  }
  async evidenceRefused(taskId: string, worker: string, reason: string) {
    this.push("evidenceRefused", taskId, { worker, reason });
  }
  async trainingAbandoned(taskId: string) {
    this.push("trainingAbandoned", taskId, null);
  }
  async taskFailed(taskId: string, reason: string, networkFault: boolean) {
    this.push("taskFailed", taskId, { reason, networkFault });
  }

  /** The details of every call of `method`, for `taskId` when given. */
  of<T = unknown>(method: keyof JobLifecycle, taskId?: string): T[] {
    return this.calls
      .filter((c) => c.method === method && (taskId === undefined || c.taskId === taskId))
      .map((c) => c.detail as T);
  }

  async until(predicate: (calls: LifecycleCall[]) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.calls)) {
      const left = deadline - Date.now();
      assert.ok(left > 0, `timed out; reports so far: ${JSON.stringify(this.calls.map((c) => c.method))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

export interface GatewayApp {
  gateway: NodeGateway;
  producer: TaskProducer;
  app: App;
  /** Where the app listens: http://127.0.0.1:port */
  url: string;
  /** What the gateway logged of nodes' own failure reports (anything else it logs fails the test). */
  nodeReports: Array<{ message: string; context: string }>;
  close(): Promise<void>;
}

export async function startGatewayApp(
  t: TestApp,
  lifecycle: JobLifecycle,
  policy: QueuePolicy,
  maxUploadBytes: number,
  /** Node addresses that read every blob, as the API's own operator key does. */
  trustedReaders: string[] = [],
  /** The chain the dispute and challenge routes consult; without it they answer 503. */
  chain?: GatewayChainReads,
): Promise<GatewayApp> {
  const queues: QueueConnection = { redisUrl: t.config.redisUrl!, prefix: `${t.prefix}-queues` };
  const nodeReports: GatewayApp["nodeReports"] = [];
  const gateway = createNodeGateway({
    db: t.database.db,
    redis: t.redis,
    blobs: t.services.files.blobs,
    lifecycle,
    queues,
    policies: { training: policy, audit: policy },
    limits: { checkpointBytes: maxUploadBytes, modelBytes: maxUploadBytes, evidenceBytes: maxUploadBytes },
    logError: (error, context) => {
      // A node giving up is expected in these tests; its words go to the log, and are checked there.
      if (context.startsWith("node ")) nodeReports.push({ message: (error as Error).message, context });
      else throw error;
    },
    trustedReaders,
    ...(chain ? { chain } : {}),
  });
  await gateway.leases.start();
  const producer = new TaskProducer(queues, { training: policy, audit: policy });
  const up = async () => undefined;
  const app = await buildApp({
    deps: {
      services: { ...t.services, nodeGateway: gateway },
      probes: { database: up, redis: up, chain: up },
      rateLimits: t.rateLimits,
    },
  });
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    gateway,
    producer,
    app,
    url,
    nodeReports,
    close: async () => {
      await app.close();
      await producer.close();
      await gateway.leases.close();
    },
  };
}
