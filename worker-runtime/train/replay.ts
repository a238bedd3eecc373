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
import { withReplaySetup } from "./replay-setups.ts";
import { type DatasetSource, finishRun, nextRun, type RunSetup, runOptions } from "./run-setup.ts";
import type { ModelState, RunOutcome } from "./step-engine.ts";

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

// The states a run emits at once are held together: past this many bytes of them a run stops
// early (a compute-bound model's state is megabytes; every-step transcripts emit one per step).
const LEAF_BYTES = 64 * 1024 * 1024;

const stateBytes = (state: ModelState) =>
  [...state.params.values(), ...state.state.values()].reduce((sum, t) => sum + t.data.byteLength, 0);

/**
 * Replays the segment in the worker's runs (up to the engine's steps per run, stopping at epoch
 * ends), calling `atLeaf` with the state after each of `leaves` (ascending; those outside the
 * segment or at its end are skipped) in the graph's own form. A run with leaves inside it emits
 * their states itself (runWithLeaves), so leaves cost no extra run. Returns the state at `toStep`,
 * in the graph's form too.
 */
async function replay(
  options: ReplayOptions,
  leaves: (fromStep: number) => number[],
  atLeaf: (setup: RunSetup, state: TrainingState) => void,
): Promise<{ setup: RunSetup; state: TrainingState; losses: number[] }> {
  return withReplaySetup(options.model, options.dataset, options.spec, runOptions(options), async (setup) => {
    const { engine, totalSteps } = setup;
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
    const from = state.step;
    const stops = [...leaves(from).filter((step) => step > from && step < options.toStep), options.toStep];
    const perRun = Math.max(1, Math.floor(LEAF_BYTES / Math.max(1, stateBytes(state))));
    const order = new BatchOrder(setup.plan, state.position);
    const losses: number[] = [];
    let next = 0;
    while (state.step < options.toStep) {
      if (options.signal?.aborted)
        throw new TrainError("ABORTED", `replay stopped after step ${state.step}`, [], state.step);
      const first = state.step;
      const run = nextRun(setup, state, order, stops[Math.min(next + perRun - 1, stops.length - 1)]!);
      const count = run.steps.length;
      const ends: number[] = [];
      while (next < stops.length && stops[next]! <= first + count) ends.push(stops[next++]! - first);
      const inside = ends.filter((end) => end < count);
      const outcome: RunOutcome & { leaves?: ModelState[] } =
        inside.length === 0
          ? await engine.run(state, run.input)
          : await engine.runWithLeaves(state, run.input, [...inside, count]);
      const advanced = finishRun(order, run, outcome);
      losses.push(...advanced.steps.map((s) => s.loss));
      const after = advanced.state.position;
      // A run never crosses an epoch's end, so within it only the batch count moves.
      inside.forEach((end, w) => {
        const { params, state: optimizer } = outcome.leaves![w]!;
        const position = { ...after, batch: after.batch - (count - end) };
        atLeaf(setup, { step: first + end, position, params, state: optimizer });
      });
      state = advanced.state;
      if (ends.at(-1) === count && state.step < options.toStep) atLeaf(setup, state);
    }
    return { setup, state, losses };
  });
}

/** The state in checkpoint form, viewing into the graph's tensors: for a reader done before the next run. */
const canonicalView = (setup: RunSetup, state: TrainingState): TrainingState => ({
  ...state,
  ...setup.engine.canonical(state, { views: true }),
});

export async function replaySegment(options: ReplayOptions): Promise<ReplayResult> {
  const { setup, state, losses } = await replay(
    options,
    () => [],
    () => {},
  );
  const final = { ...state, ...setup.engine.canonical(state) };
  const bytes = encodeCheckpoint(final);
  return { state: final, bytes, sha256: sha256Hex(bytes), losses };
}

const stateSha256 = (setup: RunSetup, state: TrainingState) => checkpointSha256(canonicalView(setup, state));

/**
 * Replays the segment as the worker trains it, in the worker's runs, hashing the state only at
 * the transcript's leaves: streamed over the canonical bytes, no checkpoint built.
 */
export async function replayTranscript(options: ReplayOptions & { stride: number }): Promise<Transcript> {
  const leaves: string[] = [];
  const result = await replay(
    options,
    (from) => transcriptSteps(from, options.toStep, options.stride),
    (setup, state) => leaves.push(stateSha256(setup, state)),
  );
  const sha256 = stateSha256(result.setup, result.state);
  leaves.push(sha256);
  return { sha256, leaves, root: transcriptRoot(leaves) };
}

/** The state after every step of one stride window of a transcript, for a dispute over its leaf. */
export interface TranscriptWindow {
  /** The step of `stepHashes[0]`: the window holds steps first .. first + stepHashes.length − 1. */
  first: number;
  stepHashes: string[];
}

/**
 * Replays the segment up to transcript window `window` (1-based: the one ending at leaf `window`)
 * in the worker's runs, hashing the state after each step of that window.
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
    // A leaf at the window's start and after each of its steps.
    () => Array.from({ length: end - start }, (_, i) => start + i),
    (setup, state) => {
      if (state.step > start) stepHashes.push(stateSha256(setup, state));
    },
  );
  stepHashes.push(stateSha256(result.setup, result.state));
  return { first: start + 1, stepHashes };
}
