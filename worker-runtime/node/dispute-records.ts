// What a node keeps of its on-chain work so that it can play a dispute about it later (PROTOCOL.md
// §6): a worker, after its commit, the task's inputs (and the model and spec it trained instead,
// when a fault rewrote them), its checkpoint directory and the leaves it committed; a verifier,
// after its verdict, the task's inputs, the checkpoint its replay started from and the transcript
// leaves it published (a whistleblower, before its challenge, the same but the leaves). Kept under
// <data dir>/disputes/<chain task id>/, read by the dispute player.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DisputeView } from "../../chain-bridge/index.ts";
import { CheckpointDir } from "../train/checkpoint-dir.ts";
import type { PinpointRun } from "../train/pinpoint.ts";
import type { DatasetSource } from "../train/run-setup.ts";
import type { DisputeRecord } from "./dispute-player.ts";

interface RecordFile {
  dataset_file_name: string;
  spec: unknown;
  threads: number;
  /** A worker's: its checkpoint directory and committed leaves. */
  checkpoint_dir?: string;
  committed_leaves?: string[];
  /** A worker's that trained another job than the task's: that job's spec (its model: trained-model.onnx). */
  trained_spec?: unknown;
  /** A verifier's: the step of `segment-start.ckpt` and its inclusion proof in the committed root. */
  segment_start_step?: number;
  segment_start_proof?: string[];
  /** A verifier's: the transcript leaves its verdict published, which bind its claims in a transcript dispute. */
  transcript_leaves?: string[];
}

const recordDir = (dataDir: string, chainTaskId: bigint) => join(dataDir, "disputes", chainTaskId.toString());

/** The task's inputs, as the chain's hashes name them: model.onnx is always the task's model. */
export interface RunInputs {
  model: Uint8Array;
  dataset: DatasetSource;
  spec: unknown;
  threads: number;
}

/** The model and spec a worker trained when they are not the task's (a fault's rewritten job). */
export interface TrainedJob {
  model: Uint8Array;
  spec: unknown;
}

function writeRecord(dataDir: string, chainTaskId: bigint, inputs: RunInputs, extra: Partial<RecordFile>) {
  const dir = recordDir(dataDir, chainTaskId);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "model.onnx"), inputs.model);
  writeFileSync(join(dir, "dataset"), inputs.dataset.bytes);
  const record: RecordFile = {
    dataset_file_name: inputs.dataset.fileName,
    spec: inputs.spec,
    threads: inputs.threads,
    ...extra,
  };
  writeFileSync(join(dir, "record.json"), JSON.stringify(record));
  return dir;
}

/**
 * A worker's record after its commit: its checkpoints stay where training wrote them. `trained` is
 * the job it ran when that is not the task's: it replays that job, and claims at the task's positions.
 */
export function keepWorkerRecord(
  dataDir: string,
  chainTaskId: bigint,
  inputs: RunInputs,
  checkpointDir: string,
  committedLeaves: string[],
  trained?: TrainedJob,
): void {
  const dir = writeRecord(dataDir, chainTaskId, inputs, {
    checkpoint_dir: checkpointDir,
    committed_leaves: committedLeaves,
    ...(trained ? { trained_spec: trained.spec } : {}),
  });
  if (trained) writeFileSync(join(dir, "trained-model.onnx"), trained.model);
}

/**
 * A verifier's record after its verdict: the checkpoint its replay started from and the transcript
 * leaves it published; a whistleblower's before its challenge, without leaves (it published none).
 */
export function keepVerifierRecord(
  dataDir: string,
  chainTaskId: bigint,
  inputs: RunInputs,
  segmentStart: { step: number; bytes: Uint8Array; proof: string[] },
  transcriptLeaves?: readonly string[],
): void {
  const dir = writeRecord(dataDir, chainTaskId, inputs, {
    segment_start_step: segmentStart.step,
    segment_start_proof: segmentStart.proof,
    ...(transcriptLeaves ? { transcript_leaves: [...transcriptLeaves] } : {}),
  });
  writeFileSync(join(dir, "segment-start.ckpt"), segmentStart.bytes);
}

function readRecord(dataDir: string, chainTaskId: bigint): { stored: RecordFile; run: PinpointRun } | null {
  const dir = recordDir(dataDir, chainTaskId);
  if (!existsSync(join(dir, "record.json"))) return null;
  const stored = JSON.parse(readFileSync(join(dir, "record.json"), "utf8")) as RecordFile;
  const run = {
    model: readFileSync(join(dir, "model.onnx")),
    dataset: { bytes: readFileSync(join(dir, "dataset")), fileName: stored.dataset_file_name },
    spec: stored.spec,
    threads: stored.threads,
  };
  return { stored, run };
}

/** The model, dataset and spec of a chain task kept under `dataDir` (a node's, or the referee's inputs). */
export function recordedRun(dataDir: string, chainTaskId: bigint): PinpointRun | null {
  return readRecord(dataDir, chainTaskId)?.run ?? null;
}

/** The dispute player's record lookup over what this node kept; null for work it holds nothing of. */
export function disputeRecords(dataDir: string) {
  return async (dispute: DisputeView): Promise<DisputeRecord | null> => {
    const kept = readRecord(dataDir, dispute.chainTaskId);
    if (!kept) return null;
    const { stored, run } = kept;
    const dir = recordDir(dataDir, dispute.chainTaskId);
    const startStep = Number(dispute.segmentStart);
    if (stored.checkpoint_dir !== undefined) {
      const checkpoints = CheckpointDir.open(stored.checkpoint_dir);
      const kept = {
        segmentStart: checkpoints.read(startStep).bytes,
        committedLeaves: stored.committed_leaves ?? [],
      };
      if (stored.trained_spec === undefined) return { run, ...kept };
      const trained = { model: readFileSync(join(dir, "trained-model.onnx")), spec: stored.trained_spec };
      return { run: { ...run, ...trained }, task: run, ...kept };
    }
    if (stored.segment_start_step !== startStep) return null;
    return {
      run,
      segmentStart: readFileSync(join(dir, "segment-start.ckpt")),
      segmentStartProof: stored.segment_start_proof ?? [],
      ...(stored.transcript_leaves ? { transcriptLeaves: stored.transcript_leaves } : {}),
    };
  };
}
