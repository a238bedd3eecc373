// Segment replay for verifiers: from the checkpoint at the start of a segment, run the steps up
// to the segment's end exactly as the worker did, and return the checkpoint bytes and hash there.
// Within the same determinism profile the hash must equal the worker's committed leaf.
import { merkleRoot } from "../../protocol/merkle.ts";
import { decodeCheckpoint, encodeCheckpoint, sha256Hex, type TrainingState } from "./checkpoint.ts";
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

/** A verdict's transcript (PROTOCOL.md §5.4): the state after every step of the segment. */
export interface Transcript {
  /** SHA-256 of the canonical checkpoint bytes after the segment's last step. */
  sha256: string;
  /** SHA-256 of the canonical checkpoint bytes after each step, `stepHashes[i]` after step from + i + 1. */
  stepHashes: string[];
  /** The RFC 6962 Merkle root over `stepHashes`. */
  root: string;
}

/** Replays the segment, calling `afterRun` with the state after each onnxruntime run. */
async function replay(
  options: ReplayOptions,
  afterRun: (setup: RunSetup, state: TrainingState) => void,
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
    while (state.step < options.toStep) {
      if (options.signal?.aborted)
        throw new TrainError("ABORTED", `replay stopped after step ${state.step}`, [], state.step);
      const advanced = await advance(setup, state, order, options.toStep);
      losses.push(...advanced.steps.map((s) => s.loss));
      state = advanced.state;
      afterRun(setup, state);
    }
    const final = { ...state, ...engine.canonical(state) };
    const bytes = encodeCheckpoint(final);
    return { state: final, bytes, sha256: sha256Hex(bytes), losses };
  } finally {
    await engine.release();
  }
}

export function replaySegment(options: ReplayOptions): Promise<ReplayResult> {
  return replay(options, () => {});
}

/** Replays the segment one step per run and hashes the state after every step. */
export async function replayTranscript(options: Omit<ReplayOptions, "stepsPerRun">): Promise<Transcript> {
  const stepHashes: string[] = [];
  const result = await replay({ ...options, stepsPerRun: 1 }, (setup, state) => {
    stepHashes.push(sha256Hex(encodeCheckpoint({ ...state, ...setup.engine.canonical(state) })));
  });
  const root = Buffer.from(merkleRoot(stepHashes.map((h) => Buffer.from(h, "hex")))).toString("hex");
  return { sha256: result.sha256, stepHashes, root };
}
