// Segment replay for verifiers: from the checkpoint at the start of a segment, run the steps up
// to the segment's end exactly as the worker did, and return the checkpoint bytes and hash there.
// Within the same determinism profile the hash must equal the worker's committed leaf.
import { merkleRoot } from "../../protocol/merkle.ts";
import {
  checkpointSha256,
  decodeCheckpoint,
  encodeCheckpoint,
  sha256Hex,
  type TrainingState,
} from "./checkpoint.ts";
import { BatchOrder } from "./data/batches.ts";
import { TrainError } from "./errors.ts";
import { advance, type DatasetSource, type RunSetup, runOptions, setUpRun } from "./run-setup.ts";

export interface ReplayOptions {
  model: Uint8Array;
  dataset: DatasetSource;
  spec: unknown;
  /** Canonical bytes of the checkpoint the segment starts from. */
  from: Uint8Array;
  /** The step the start checkpoint is committed at: a checkpoint claiming another step is refused. */
  fromStep?: number;
  /** The step of the checkpoint the segment ends at. */
  toStep: number;
  /** Optimizer steps per onnxruntime run (see SetUpOptions); the bytes do not depend on it. */
  stepsPerRun?: number;
  /** Intra-op threads: the worker's, from its determinism profile (`intra_op_threads`). */
  threads?: number;
  signal?: AbortSignal;
}

export interface ReplayResult {
  state: TrainingState;
  bytes: Uint8Array;
  sha256: string;
  /** Loss of every replayed step, for diagnostics when hashes disagree. */
  losses: number[];
}

/** A verdict's transcript (PROTOCOL.md §5.4): the state every `stride` steps of the segment and at its end. */
export interface Transcript {
  /** SHA-256 of the canonical checkpoint bytes after the segment's last step: the last leaf. */
  sha256: string;
  /** Leaf j − 1: SHA-256 of the canonical checkpoint bytes after step min(from + j·stride, to). */
  leaves: string[];
  /** The RFC 6962 Merkle root over `leaves`. */
  root: string;
}

/** The steps after which a strided transcript of (from, to] hashes the state, in order. */
export function transcriptSteps(from: number, to: number, stride: number): number[] {
  if (!Number.isInteger(stride) || stride < 1) {
    throw new TrainError("INVALID_SPEC", `the transcript stride must be a positive integer; got ${stride}`);
  }
  return Array.from({ length: Math.ceil((to - from) / stride) }, (_, i) =>
    Math.min(from + (i + 1) * stride, to),
  );
}

export const transcriptRoot = (leaves: string[]): string =>
  Buffer.from(merkleRoot(leaves.map((h) => Buffer.from(h, "hex")))).toString("hex");

/**
 * Replays the segment in runs of several steps, each run stopping at the next of `stops` (sorted,
 * ending at most at `toStep`), and calls `atStop` with the state there.
 */
async function replay(
  options: ReplayOptions,
  stops: (fromStep: number) => number[],
  atStop: (setup: RunSetup, state: TrainingState) => void,
): Promise<ReplayResult> {
  const setup = await setUpRun(options.model, options.dataset, options.spec, runOptions(options));
  const { engine, totalSteps } = setup;
  try {
    const stored = decodeCheckpoint(options.from);
    let state: TrainingState = { ...stored, ...engine.fromCanonical(stored) };
    if (options.fromStep !== undefined && state.step !== options.fromStep) {
      throw new TrainError(
        "INVALID_CHECKPOINT",
        `the checkpoint committed for step ${options.fromStep} holds the state of step ${state.step}`,
      );
    }
    if (options.toStep <= state.step || options.toStep > totalSteps) {
      throw new TrainError(
        "INVALID_CHECKPOINT",
        `a segment from step ${state.step} must end after it and at most at step ${totalSteps}; got ${options.toStep}`,
      );
    }
    const order = new BatchOrder(setup.plan, state.position);
    const losses: number[] = [];
    for (const stop of [...stops(state.step), options.toStep]) {
      while (state.step < stop) {
        if (options.signal?.aborted)
          throw new TrainError("ABORTED", `replay stopped after step ${state.step}`, [], state.step);
        const advanced = await advance(setup, state, order, stop);
        losses.push(...advanced.steps.map((s) => s.loss));
        state = advanced.state;
      }
      if (stop < options.toStep) atStop(setup, state);
    }
    const final = { ...state, ...engine.canonical(state) };
    const bytes = encodeCheckpoint(final);
    return { state: final, bytes, sha256: sha256Hex(bytes), losses };
  } finally {
    await engine.release();
  }
}

export function replaySegment(options: ReplayOptions): Promise<ReplayResult> {
  return replay(
    options,
    () => [],
    () => {},
  );
}

const stateSha256 = (setup: RunSetup, state: TrainingState) =>
  checkpointSha256({ ...state, ...setup.engine.canonical(state, { views: true }) });

/**
 * Replays the segment as the worker trains it, several steps per onnxruntime run, hashing the
 * state only at the transcript's leaves.
 */
export async function replayTranscript(options: ReplayOptions & { stride: number }): Promise<Transcript> {
  const leaves: string[] = [];
  const result = await replay(
    options,
    (from) => transcriptSteps(from, options.toStep, options.stride),
    (setup, state) => leaves.push(stateSha256(setup, state)),
  );
  leaves.push(result.sha256);
  return { sha256: result.sha256, leaves, root: transcriptRoot(leaves) };
}

/** The state after every step of one stride window of a transcript, for a dispute over its leaf. */
export interface TranscriptWindow {
  /** The step of `stepHashes[0]`: the window holds steps first .. first + stepHashes.length − 1. */
  first: number;
  stepHashes: string[];
}

/**
 * Replays the segment up to transcript window `window` (1-based: the one ending at leaf `window`)
 * in runs of several steps, then that window one step per run, hashing the state after each.
 */
export async function replayWindow(
  options: ReplayOptions & { fromStep: number; stride: number; window: number },
): Promise<TranscriptWindow> {
  const ends = transcriptSteps(options.fromStep, options.toStep, options.stride);
  if (!Number.isInteger(options.window) || options.window < 1 || options.window > ends.length) {
    throw new TrainError(
      "INVALID_SPEC",
      `the transcript of steps ${options.fromStep}-${options.toStep} with stride ${options.stride} has windows 1-${ends.length}; got ${options.window}`,
    );
  }
  const start = options.window === 1 ? options.fromStep : ends[options.window - 2]!;
  const end = ends[options.window - 1]!;
  const stepHashes: string[] = [];
  const result = await replay(
    { ...options, toStep: end },
    // Stopping at the window's start and after each of its steps makes its runs single steps.
    () => Array.from({ length: end - start }, (_, i) => start + i).filter((step) => step > options.fromStep),
    (setup, state) => {
      if (state.step > start) stepHashes.push(stateSha256(setup, state));
    },
  );
  stepHashes.push(result.sha256);
  return { first: start + 1, stepHashes };
}
