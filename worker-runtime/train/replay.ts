// Segment replay for verifiers: from the checkpoint at the start of a segment, run the steps up
// to the segment's end exactly as the worker did, and return the checkpoint bytes and hash there.
// Within the same determinism profile the hash must equal the worker's committed leaf.
import { decodeCheckpoint, encodeCheckpoint, sha256Hex, type TrainingState } from "./checkpoint.ts";
import { BatchOrder } from "./data/batches.ts";
import { TrainError } from "./errors.ts";
import { advance, type DatasetSource, setUpRun } from "./run-setup.ts";

export interface ReplayOptions {
  model: Uint8Array;
  dataset: DatasetSource;
  spec: unknown;
  /** Canonical bytes of the checkpoint the segment starts from. */
  from: Uint8Array;
  /** The step of the checkpoint the segment ends at. */
  toStep: number;
  /** Also hash the state after every step (a verifier's transcript needs them; it costs an encode per step). */
  hashEveryStep?: boolean;
  signal?: AbortSignal;
}

export interface ReplayResult {
  state: TrainingState;
  bytes: Uint8Array;
  sha256: string;
  /** Loss of every replayed step, for diagnostics when hashes disagree. */
  losses: number[];
  /**
   * With `hashEveryStep`: SHA-256 of the canonical checkpoint bytes after each replayed step, in
   * order (the last one is `sha256`); otherwise empty.
   */
  stepHashes: string[];
}

export async function replaySegment(options: ReplayOptions): Promise<ReplayResult> {
  const setup = await setUpRun(options.model, options.dataset, options.spec);
  const { engine, totalSteps } = setup;
  try {
    const stored = decodeCheckpoint(options.from);
    let state: TrainingState = { ...stored, ...engine.fromCanonical(stored) };
    if (options.toStep <= state.step || options.toStep > totalSteps) {
      throw new TrainError(
        "INVALID_CHECKPOINT",
        `a segment from step ${state.step} must end after it and at most at step ${totalSteps}; got ${options.toStep}`,
      );
    }
    const order = new BatchOrder(setup.plan, state.position);
    const losses: number[] = [];
    const stepHashes: string[] = [];
    while (state.step < options.toStep) {
      if (options.signal?.aborted)
        throw new TrainError("ABORTED", `replay stopped after step ${state.step}`, [], state.step);
      const advanced = await advance(setup, state, order);
      losses.push(advanced.loss);
      state = advanced.state;
      if (options.hashEveryStep) {
        stepHashes.push(sha256Hex(encodeCheckpoint({ ...state, ...engine.canonical(state) })));
      }
    }
    const final = { ...state, ...engine.canonical(state) };
    const bytes = encodeCheckpoint(final);
    return { state: final, bytes, sha256: sha256Hex(bytes), losses, stepHashes };
  } finally {
    await engine.release();
  }
}
