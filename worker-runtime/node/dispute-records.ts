// What a node keeps of its on-chain work so that it can play a dispute about it later (PROTOCOL.md
// §6): a worker, after its commit, the task's inputs (and the model and spec it trained instead,
// when a fault rewrote them), its checkpoint directory and the leaves it committed; a verifier,
// after its verdict, the task's inputs, the checkpoint its replay started from and the transcript
// leaves it published (a whistleblower, before its challenge, the same but the leaves). Kept under
// <data dir>/disputes/<chain task id>/, read by the dispute player, and pruned once no dispute can
// be opened about it any more (recordStillNeeded), within a bound on their total size
// (roomForRecords).
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import type { DisputeView, TaskView } from "../../chain-bridge/index.ts";
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

const recordsRoot = (dataDir: string) => join(dataDir, "disputes");
const recordDir = (dataDir: string, chainTaskId: bigint) =>
  join(recordsRoot(dataDir), chainTaskId.toString());

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

function readRecordFile(dataDir: string, chainTaskId: bigint): RecordFile {
  return JSON.parse(readFileSync(join(recordDir(dataDir, chainTaskId), "record.json"), "utf8")) as RecordFile;
}

/** The record's file, or null when it is missing or does not parse. */
function storedRecord(dataDir: string, chainTaskId: bigint): RecordFile | null {
  try {
    return readRecordFile(dataDir, chainTaskId);
  } catch {
    return null;
  }
}

function readRecord(dataDir: string, chainTaskId: bigint): { stored: RecordFile; run: PinpointRun } | null {
  const dir = recordDir(dataDir, chainTaskId);
  if (!existsSync(join(dir, "record.json"))) return null;
  const stored = readRecordFile(dataDir, chainTaskId);
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

/**
 * The checkpoints of a worker's record that its commit covers and this node trained (a resumed
 * run's earlier ones came from the platform), in step order: what it republishes when its delivery
 * is challenged (PROTOCOL.md §7). Null for a task it keeps no worker record of.
 */
export function committedCheckpoints(
  dataDir: string,
  chainTaskId: bigint,
): Array<{ step: number; bytes: Uint8Array }> | null {
  const stored = storedRecord(dataDir, chainTaskId);
  if (stored?.checkpoint_dir === undefined) return null;
  const committed = new Set(stored.committed_leaves ?? []);
  const dir = CheckpointDir.open(stored.checkpoint_dir);
  return dir.manifest.checkpoints
    .filter((record) => committed.has(record.sha256))
    .map((record) => ({ step: record.step, bytes: dir.read(record.step).bytes }));
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

/**
 * Whether a dispute this node could play from its record of `task` may still open or is open
 * (PROTOCOL.md §5.7, §6, §7). Any open dispute of the task keeps it. A worker's commit can be
 * disputed while it is the task's worker and the task is not over: every audit round of its
 * attempt (a Closed task whose audits all failed gets another) may end in a disagreeing verdict;
 * once the task is finalized or cancelled, or its attempt is void (the task re-assigned or waiting
 * for a worker), nothing can open about it. A verdict's record (a verifier's, or a whistleblower's
 * kept before its challenge) is needed while an audit of the task is unsettled: disputes open only
 * when an audit settles, at its reveal or at close_audits. A task the chain does not hold is over.
 */
export function recordStillNeeded(task: TaskView | null, node: string, kind: RecordKind): boolean {
  if (!task) return false;
  if (task.disputes.length > 0) return true;
  if (kind === "worker") {
    return task.worker === node && !["Finalized", "Cancelled", "Unassigned"].includes(task.status);
  }
  return task.audits.some((audit) => !audit.settled);
}

/** A worker's record (its commit) or a verdict's (a verifier's or a whistleblower's). */
export type RecordKind = "worker" | "verdict";

/**
 * One record on disk: its task, kind, when it was kept and the bytes it holds (with a worker's
 * checkpoints). `unreadable`: its record.json is missing or cut short (the node stopped while
 * keeping it), so no dispute can be played from it.
 */
export interface KeptRecord {
  chainTaskId: bigint;
  kind: RecordKind | "unreadable";
  keptAtMs: number;
  bytes: number;
}

/** What the pruning needs of the chain: this node's address and a task's state. */
export interface RecordChainView {
  readonly address: string;
  task(chainTaskId: bigint): Promise<TaskView | null>;
}

/** Every record under `dataDir`, oldest first. */
export function keptRecords(dataDir: string): KeptRecord[] {
  const root = recordsRoot(dataDir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => /^\d+$/.test(name))
    .map((name): KeptRecord => {
      const chainTaskId = BigInt(name);
      const stored = storedRecord(dataDir, chainTaskId);
      const checkpoints = stored && ownedCheckpoints(dataDir, stored);
      const kind = !stored ? "unreadable" : stored.checkpoint_dir === undefined ? "verdict" : "worker";
      return {
        chainTaskId,
        kind,
        keptAtMs: statSync(stored ? join(root, name, "record.json") : join(root, name)).mtimeMs,
        bytes: sizeOf(join(root, name)) + (checkpoints ? sizeOf(checkpoints) : 0),
      };
    })
    .sort((a, b) => a.keptAtMs - b.keptAtMs);
}

/**
 * Removes every record no dispute can need any more, oldest first, and returns their tasks. A
 * record whose task the chain cannot be asked about now is kept, and so is one rewritten while its
 * task was read (the node kept a new verdict of the same task meanwhile).
 */
export async function pruneRecords(dataDir: string, chain: RecordChainView): Promise<bigint[]> {
  const pruned: bigint[] = [];
  for (const record of keptRecords(dataDir)) {
    if (record.kind !== "unreadable") {
      const task = await chain.task(record.chainTaskId).catch(() => undefined);
      if (task === undefined || recordStillNeeded(task, chain.address, record.kind)) continue;
      const file = join(recordDir(dataDir, record.chainTaskId), "record.json");
      if (!existsSync(file) || statSync(file).mtimeMs !== record.keptAtMs) continue;
    }
    const stored = storedRecord(dataDir, record.chainTaskId);
    const checkpoints = stored && ownedCheckpoints(dataDir, stored);
    if (checkpoints) rmSync(checkpoints, { recursive: true, force: true });
    rmSync(recordDir(dataDir, record.chainTaskId), { recursive: true, force: true });
    pruned.push(record.chainTaskId);
  }
  return pruned;
}

/**
 * Whether the node may take work that would keep another record: after pruning what no dispute
 * needs, the records left hold less than `limitBytes`. A node under attack (verdicts or tasks it is
 * made to keep records of, faster than they settle) stops taking such work rather than fill its
 * disk; a record still needed is never removed to make room, since the node would lose its dispute.
 */
export async function roomForRecords(
  dataDir: string,
  chain: RecordChainView,
  limitBytes: number,
): Promise<{ room: boolean; bytes: number }> {
  await pruneRecords(dataDir, chain);
  const bytes = keptRecords(dataDir).reduce((total, record) => total + record.bytes, 0);
  return { room: bytes < limitBytes, bytes };
}

/** A worker's checkpoint directory, when it lies in the node's data directory (only then is it the node's to remove). */
function ownedCheckpoints(dataDir: string, stored: RecordFile): string | null {
  if (stored.checkpoint_dir === undefined) return null;
  const inside = relative(resolve(dataDir), resolve(stored.checkpoint_dir));
  return inside !== "" &&
    !inside.startsWith(`..${sep}`) &&
    inside !== ".." &&
    existsSync(stored.checkpoint_dir)
    ? stored.checkpoint_dir
    : null;
}

/** The bytes of the files under `path` (symbolic links not followed). */
function sizeOf(path: string): number {
  const stat = lstatSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((total, name) => total + sizeOf(join(path, name)), 0);
}
