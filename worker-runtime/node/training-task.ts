// A worker's handling of one leased training task: fetch the model and data by hash, train with
// the training engine (resuming from the gateway's last checkpoint when the task was started by
// a node that died), upload every checkpoint as it is written, then upload the model and complete
// with the Merkle commitment over all of the task's checkpoints, signed by this node's key.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import canonicalize from "canonicalize";
import type { NodeChainClient } from "../../chain-bridge/index.ts";
import { merkleRoot } from "../../protocol/merkle.ts";
import type { EpochMetrics, TrainingClaim } from "../../protocol/node-wire.ts";
import { commitmentMessage } from "../../protocol/signed-messages.ts";
import { CheckpointDir } from "../train/checkpoint-dir.ts";
import { currentProfile } from "../train/profile.ts";
import { parseTrainingSpec } from "../train/spec.ts";
import { deliveredModel, type TrainEvent, train } from "../train/trainer.ts";
import { apart, measureCpu } from "../train/work-cpu.ts";
import { commitCheckpoints } from "./chain-duties.ts";
import { computeReport } from "./compute-meter.ts";
import { keepWorkerRecord } from "./dispute-records.ts";
import { NodeError } from "./errors.ts";
import type { CheckpointInFlight, Fault, WorkerFault } from "./faults.ts";
import type { GatewayClient } from "./gateway-client.ts";
import type { NodeIdentity } from "./identity.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import { determinismProfileHash, requireSameProfile } from "./profile-check.ts";
import { SerialReports } from "./serial-reports.ts";

export interface TaskContext {
  client: GatewayClient;
  /** The node's chain client; work assigned on chain cannot be done without one. */
  chain: NodeChainClient | null;
  identity: NodeIdentity;
  dataDir: string;
  log: (message: string) => void;
  /** A misbehaviour injected on purpose (faults.ts); null for an honest node. */
  fault: Fault | null;
  /** Intra-op threads of every training and replay: part of the node's determinism profile. */
  threads: number;
}

// Progress is a courtesy to the user watching the job; once a second is plenty.
const PROGRESS_INTERVAL_MS = 1_000;

type StepEvent = Extract<TrainEvent, { type: "step" }>;

const sha256Hex = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

/**
 * A checkpoint directory holding only the checkpoint to resume from, with a manifest naming this
 * run, which is what the trainer resumes from. The checkpoint's hash was checked on download.
 */
function resumeDirectory(dir: string, claim: TrainingClaim, bytes: Uint8Array, threads: number): string {
  const { task } = claim;
  rmSync(dir, { recursive: true, force: true });
  const identity = {
    model_sha256: task.model_sha256,
    dataset_sha256: task.dataset_sha256,
    spec_sha256: sha256Hex(canonicalize(parseTrainingSpec(task.spec))!),
    total_steps: task.total_steps,
  };
  const step = claim.resume_from!.step;
  // The gateway keeps checkpoints, not the metrics history or the open epoch's sums: the resumed
  // run's metrics start here, while its checkpoints are bit-identical either way.
  CheckpointDir.create(dir, identity, currentProfile(threads)).add(
    step,
    bytes,
    step === task.total_steps,
    null,
    {
      newSteps: [],
      epochs: [],
    },
  );
  return dir;
}

export function requireChain(context: TaskContext): NodeChainClient {
  if (!context.chain) {
    throw new NodeError(
      "CHAIN_REJECTED",
      "this work is a duty on chain, signed with the node's key: start the node with --chain",
    );
  }
  return context.chain;
}

/** Holds the lease without a word until the node stops: the gateway's lease deadline must notice. */
function vanish(stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => stop.addEventListener("abort", () => resolve(), { once: true }));
}

export async function runTrainingTask(
  context: TaskContext,
  claim: TrainingClaim,
  stop: AbortSignal,
): Promise<void> {
  const { client, identity, log } = context;
  const { task } = claim;
  const lease = claim.lease.id;
  const keeper = new LeaseKeeper(client, lease, claim.lease.heartbeat_interval_seconds, stop, log);
  const reports = new SerialReports();
  const fault = context.fault?.role === "worker" ? (context.fault as WorkerFault) : null;
  if (fault?.vanish === "after-claim") {
    keeper.stop();
    log(`task ${task.task_id}: fault silent, never delivering`);
    return vanish(stop);
  }
  try {
    requireSameProfile(task, determinismProfileHash(context.threads));
    const workDir = join(context.dataDir, "tasks", task.task_id, `attempt-${claim.attempt}`);
    mkdirSync(workDir, { recursive: true });
    const [model, dataset] = await Promise.all([
      client.download(task.model_sha256),
      client.download(task.dataset_sha256),
    ]);
    const resumeFrom = claim.resume_from;
    let resume: { dir: string } | undefined;
    // Set by the upload reports, which narrowing cannot see into.
    let previous = null as CheckpointInFlight["previous"];
    if (resumeFrom) {
      const bytes = await client.download(resumeFrom.sha256);
      previous = { step: resumeFrom.step, bytes };
      resume = { dir: resumeDirectory(join(workDir, "resume"), claim, bytes, context.threads) };
      log(`task ${task.task_id}: resuming from step ${resumeFrom.step}`);
    } else {
      log(`task ${task.task_id}: training from step 0`);
    }
    const checkpointDir = join(workDir, "checkpoints");
    let lastProgress = 0;
    let lastStep: StepEvent | null = null;
    const report = (step: StepEvent, epoch?: EpochMetrics) =>
      reports.add(() =>
        client
          .progress(lease, {
            step: step.step,
            total_steps: step.totalSteps,
            loss: Number.isFinite(step.loss) ? step.loss : 0,
            learning_rate: step.lr,
            steps_per_second: step.stepsPerSecond,
            ...(epoch ? { epoch } : {}),
          })
          .then(() => undefined),
      );
    // The leaves are the hashes of the bytes as uploaded, which a fault may have forged.
    const uploaded = new Map<number, string>();
    const job = fault?.job ? fault.job({ model, spec: task.spec }) : { model, spec: task.spec };
    // Uploads and progress reports move bytes: they are not the training's compute (compute-meter.ts).
    const onEvent = (event: TrainEvent) => {
      if (event.type === "checkpoint" && "file" in event.record) {
        const { step, file } = event.record;
        // The trainer wrote the file before announcing it; read it now, before a later one lands.
        const trained = readFileSync(join(checkpointDir, file));
        const inFlight = { step, bytes: trained, model, spec: task.spec };
        reports.add(async () => {
          const bytes = fault?.checkpoint
            ? await fault.checkpoint({
                ...inFlight,
                previous,
                dataset: { bytes: dataset, fileName: task.dataset_file_name },
              })
            : trained;
          previous = { step, bytes };
          uploaded.set(step, sha256Hex(bytes));
          if (!fault?.withhold) await client.uploadCheckpoint(lease, step, bytes);
        });
      } else if (event.type === "step") {
        lastStep = event;
        if (Date.now() - lastProgress >= PROGRESS_INTERVAL_MS) {
          lastProgress = Date.now();
          report(event);
        }
      } else if (event.type === "epoch" && lastStep) {
        // An epoch's metrics ride on a progress report of the step that closed it, never throttled:
        // the job keeps them as its metrics history and streams them as training.epoch.
        report(lastStep, event.metrics);
      }
    };
    const { result, cpuSeconds } = await measureCpu(() =>
      train({
        ...job,
        dataset: { bytes: dataset, fileName: task.dataset_file_name },
        checkpointDir,
        threads: context.threads,
        ...(resume ? { resume } : {}),
        signal: keeper.signal,
        onEvent: (event) => apart(() => onEvent(event)),
      }),
    );
    await reports.settle();

    // The leaves cover the whole task: checkpoints stored by earlier nodes before the resume
    // point, then this run's (which starts with the resume checkpoint itself).
    const startStep = resumeFrom?.step ?? 0;
    const leaves = [
      ...claim.checkpoints.filter((c) => c.step < startStep).map((c) => c.sha256),
      ...result.checkpoints.map((c) => uploaded.get(c.step) ?? c.sha256),
    ];
    const root = Buffer.from(merkleRoot(leaves.map((l) => Buffer.from(l, "hex")))).toString("hex");
    // A worker that trained another job delivers the task's graph with that job's last weights.
    const trainedModel = fault?.job && previous ? deliveredModel(model, previous.bytes) : result.model;
    const delivered = fault?.model ? fault.model(trainedModel, model) : trainedModel;
    const modelSha256 = fault?.withhold ? sha256Hex(delivered) : await client.uploadModel(lease, delivered);
    if (task.chain) {
      await commitCheckpoints(
        requireChain(context),
        { chainTaskId: BigInt(task.chain.chain_task_id) },
        { root, leaves, steps: task.total_steps },
      );
      log(`task ${task.task_id}: committed root ${root} on chain task ${task.chain.chain_task_id}`);
      // Kept to defend the commit in a dispute: the task's inputs, these checkpoints and the leaves,
      // and the job a fault trained instead, which the defence replays.
      keepWorkerRecord(
        context.dataDir,
        BigInt(task.chain.chain_task_id),
        {
          model,
          spec: task.spec,
          dataset: { bytes: dataset, fileName: task.dataset_file_name },
          threads: context.threads,
        },
        checkpointDir,
        leaves,
        fault?.job ? job : undefined,
      );
    }
    if (fault?.vanish === "after-commit") {
      keeper.stop();
      log(`task ${task.task_id}: fault commit-and-vanish, never completing`);
      return vanish(stop);
    }
    const commitment = { taskId: task.task_id, checkpointRoot: root, leafCount: leaves.length, modelSha256 };
    const compute = computeReport(cpuSeconds, task.total_steps - startStep);
    await client.complete(lease, {
      model_sha256: modelSha256,
      checkpoint_root: root,
      leaves,
      metrics: {
        total_steps: result.metrics.total_steps,
        start_step: result.metrics.start_step,
        duration_seconds: result.metrics.duration_seconds,
        steps_per_second: result.metrics.steps_per_second,
        final_loss: result.metrics.steps.at(-1)?.loss ?? null,
        epochs: result.metrics.epochs,
      },
      commitment_signature: identity.sign(commitmentMessage(commitment)),
      ...(compute ? { compute } : {}),
    });
    log(`task ${task.task_id}: completed at step ${task.total_steps}, root ${root}`);
  } catch (error) {
    await reports.settle().catch(() => undefined);
    if (keeper.lost) return;
    const reason = stop.aborted ? "the node was stopped" : (error as Error).message;
    log(`task ${task.task_id}: giving it back (${reason})`);
    await client.fail(lease, reason).catch(() => undefined);
    if (!stop.aborted) throw error;
  } finally {
    keeper.stop();
  }
}
