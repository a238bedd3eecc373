// What the node gateway reports about a job's task, as the job services consume it. The gateway
// (api/services/nodes/) validates what untrusted nodes send; JobReports
// (api/services/job-reports.ts) turns it into job state, events, money and chain settlement. Work
// items and progress are reported as the nodes' wire format has them (protocol/node-wire.ts).
import type { AuditTask, Progress, TrainingTask } from "../../protocol/node-wire.ts";
import type { UserReasonCode } from "./failure-reasons.ts";

export interface CheckpointReport {
  step: number;
  /** SHA-256 of the checkpoint's canonical bytes, hex: a Merkle leaf. */
  sha256: string;
  sizeBytes: number;
}

export interface TrainingResult {
  /** SHA-256 of the trained ONNX model the worker uploaded, hex. */
  modelSha256: string;
  /** Checkpoint Merkle root the worker committed on chain, hex. */
  checkpointRoot: string;
  leaves: string[];
  metrics: Record<string, unknown>;
  /**
   * The worker's sr25519 signature over its commitment, hex, and its address. Null when the
   * platform completes on the worker's behalf after the referee ruled its commit delivered.
   */
  workerAddress: string;
  commitmentSignature: string | null;
}

/**
 * A worker's signed commitment the gateway refused because its model is not the one the last
 * checkpoint gives: evidence, verified on chain, for a delivery challenge (PROTOCOL.md §7).
 */
export interface RefusedClaim {
  /** The platform task id the worker signed. */
  task_ref: string;
  checkpoint_root: string;
  leaf_count: number;
  model_sha256: string;
  /** sr25519 over commitmentMessage(...), 0x-prefixed hex. */
  signature: string;
}

export interface AuditVerdict {
  /** The chain audit the verdict is for, when the audit was drawn on chain. */
  chain: { attempt: number; auditIndex: number; segment: number } | null;
  verifierAddress: string;
  fromStep: number;
  toStep: number;
  agrees: boolean;
  /** The verifier's sr25519 signature over the verdict, hex. */
  signature: string;
}

export interface JobLifecycle {
  /**
   * Whether queued work is still `node`'s duty: the chain may have re-assigned the task (a missed
   * deadline) since it was queued, and then the work must not be handed out.
   */
  isCurrentDuty(work: TrainingTask | AuditTask, node: string): Promise<boolean>;
  taskStarted(taskId: string, workerAddress: string): Promise<void>;
  progress(taskId: string, progress: Progress): Promise<void>;
  checkpointStored(taskId: string, checkpoint: CheckpointReport): Promise<void>;
  trainingCompleted(taskId: string, result: TrainingResult): Promise<void>;
  auditCompleted(taskId: string, verdict: AuditVerdict): Promise<void>;
  /**
   * The gateway refused evidence `worker` sent for the task (a checkpoint that is not a state of
   * the run, a commitment to a model other than the one its checkpoints give); `reason` is the
   * gateway's own refusal; `claim`, the worker's signed commitment to a model that is not its
   * checkpoints' model, kept as evidence for a delivery challenge.
   */
  evidenceRefused(taskId: string, worker: string, reason: string, claim?: RefusedClaim): Promise<void>;
  /** The task's worker failed it on every attempt its queue allows. */
  trainingAbandoned(taskId: string): Promise<void>;
  /**
   * `reason`: what the user reads, typed, never a node's or the chain's words. `networkFault`: the
   * failure is the network's (a node), so the user is not charged.
   */
  taskFailed(taskId: string, reason: UserReasonCode, networkFault: boolean): Promise<void>;
}
