// Fault injection: a node that misbehaves on purpose, one way per mode, so that tests and
// `veritrain up --fault` can show each cheat is caught. Only ever with VERITRAIN_ALLOW_FAULTS=1 and
// never under NODE_ENV=production: a faulty node cheats its users and is slashed for it.
import { randomBytes } from "node:crypto";
import type { NodeRole } from "../../protocol/node-wire.ts";
import { decodeCheckpoint, encodeCheckpoint, type TrainingState } from "../train/checkpoint.ts";
import { BatchOrder } from "../train/data/batches.ts";
import { replaySegment } from "../train/replay.ts";
import { advance, type DatasetSource, setUpRun } from "../train/run-setup.ts";
import { parseTrainingSpec } from "../train/spec.ts";
import { NodeError } from "./errors.ts";
import { swapOperator } from "./swap-operator.ts";

/** One checkpoint a worker is about to upload, with what a fault may need to forge it. */
export interface CheckpointInFlight {
  step: number;
  bytes: Uint8Array;
  /** The checkpoint before it, as uploaded. */
  previous: { step: number; bytes: Uint8Array } | null;
  model: Uint8Array;
  dataset: DatasetSource;
  spec: unknown;
}

/** What a training run is given: the task's, unless a fault trains something else. */
export interface TrainingJob {
  model: Uint8Array;
  spec: unknown;
}

export interface WorkerFault {
  role: "worker";
  description: string;
  /**
   * What the worker trains instead of the task, for the whole run; its checkpoints are committed
   * as the task's, and the delivered model is the task's graph with their weights.
   */
  job?: (task: TrainingJob) => TrainingJob;
  /** The bytes uploaded (and committed) instead of the trained checkpoint. */
  checkpoint?: (checkpoint: CheckpointInFlight) => Uint8Array | Promise<Uint8Array>;
  /** The model delivered instead of the trained one. */
  model?: (trained: Uint8Array, uploaded: Uint8Array) => Uint8Array;
  /** Where the worker walks away, holding the lease: right after the claim, or after its commit on chain. */
  vanish?: "after-claim" | "after-commit";
  /** Uploads none of its checkpoints (nor the model): nobody can audit or resume from what it commits. */
  withhold?: true;
}

export interface VerifierFault {
  role: "verifier";
  description: string;
  /** What the verdict says instead of the replay's answer. */
  verdict: "agrees-without-replay" | "invents-after-first-leaf" | "disagrees";
}

export type Fault = WorkerFault | VerifierFault;

/**
 * The forged checkpoint is the task's first after step 0 (every task, however short, has it),
 * chosen by its step rather than its place in the run: a worker whose forgery the gateway refuses
 * and who tries again forges it again, as a persistent cheat would, instead of turning honest.
 */
function forgeOnce(forge: (checkpoint: CheckpointInFlight) => Uint8Array | Promise<Uint8Array>) {
  return (checkpoint: CheckpointInFlight) => {
    const interval = parseTrainingSpec(checkpoint.spec).checkpoint_every;
    const first = checkpoint.step > 0 && (checkpoint.previous?.step ?? 0) === 0;
    return checkpoint.step === interval || (first && checkpoint.step < interval)
      ? forge(checkpoint)
      : checkpoint.bytes;
  };
}

function perturbWeights(bytes: Uint8Array): Uint8Array {
  const state = decodeCheckpoint(bytes);
  const weight = [...state.params.values()].find((t) => t.data instanceof Float32Array);
  if (weight) {
    const data = weight.data as Float32Array;
    for (let i = 0; i < data.length; i += 7) data[i] = data[i]! + 1e-3 * Math.sin(i + 1);
  }
  return encodeCheckpoint(state);
}

/** Trains only the first half of the segment ending at this checkpoint and labels it as the whole. */
async function skipSteps(checkpoint: CheckpointInFlight): Promise<Uint8Array> {
  // The forged checkpoint is never the run's first, so the one before it is known.
  const previous = checkpoint.previous!;
  const half = previous.step + Math.floor((checkpoint.step - previous.step) / 2);
  const state =
    half === previous.step
      ? decodeCheckpoint(previous.bytes)
      : (
          await replaySegment({
            model: checkpoint.model,
            dataset: checkpoint.dataset,
            spec: checkpoint.spec,
            from: previous.bytes,
            toStep: half,
          })
        ).state;
  return encodeCheckpoint({ ...state, step: checkpoint.step });
}

/**
 * Trains the segment ending at this checkpoint on every other batch only, skipping the rest, and
 * labels the state with the step and data position of the whole segment.
 */
async function subsetData(checkpoint: CheckpointInFlight): Promise<Uint8Array> {
  const previous = checkpoint.previous!;
  const setup = await setUpRun(checkpoint.model, checkpoint.dataset, checkpoint.spec);
  try {
    const stored = decodeCheckpoint(previous.bytes);
    let state: TrainingState = { ...stored, ...setup.engine.fromCanonical(stored) };
    const order = new BatchOrder(setup.plan, state.position);
    while (state.step < checkpoint.step) {
      if ((state.step - previous.step) % 2 === 1) {
        order.next();
        state = { ...state, step: state.step + 1, position: order.position() };
      } else {
        state = (await advance(setup, state, order, state.step + 1)).state;
      }
    }
    return encodeCheckpoint({ ...state, ...setup.engine.canonical(state) });
  } finally {
    await setup.engine.release();
  }
}

/** The task run with another seed: another shuffle and split of the same data, another job's checkpoints. */
function otherSeed(task: TrainingJob): TrainingJob {
  const spec = parseTrainingSpec(task.spec);
  return { model: task.model, spec: { ...spec, seed: (spec.seed + 1) % 2 ** 32 } };
}

export const FAULTS = {
  "garbage-checkpoint": {
    role: "worker",
    description: "uploads and commits random bytes for one checkpoint",
    checkpoint: forgeOnce((c) => new Uint8Array(randomBytes(c.bytes.length))),
  },
  "perturb-weights": {
    role: "worker",
    description: "adds noise to the weights of one checkpoint",
    checkpoint: forgeOnce((c) => perturbWeights(c.bytes)),
  },
  "skip-steps": {
    role: "worker",
    description: "trains half the steps of one segment and commits its end as if it trained all",
    checkpoint: forgeOnce(skipSteps),
  },
  "subset-data": {
    role: "worker",
    description: "trains one segment on every other batch and commits its end as if it trained them all",
    checkpoint: forgeOnce(subsetData),
  },
  "swap-operator": {
    role: "worker",
    description:
      "trains the whole run with one operator computed differently (tanh-approximated Gelu, or a Gemm on float16-rounded inputs)",
    job: (task: TrainingJob) => ({ model: swapOperator(task.model), spec: task.spec }),
  },
  "replay-other-job": {
    role: "worker",
    description: "commits the checkpoints of another job: the same model and data trained with another seed",
    job: otherSeed,
  },
  "swap-model": {
    role: "worker",
    description: "signs its commitment for the untrained model instead of the trained one, on every try",
    model: (_trained, uploaded) => uploaded,
  },
  silent: {
    role: "worker",
    description: "claims a task and never delivers",
    vanish: "after-claim",
  },
  "commit-and-vanish": {
    role: "worker",
    description:
      "commits its checkpoint root on chain, withholds the checkpoints and never completes the task",
    vanish: "after-commit",
    withhold: true,
  },
  "crash-after-commit": {
    role: "worker",
    description:
      "stops handling its task right after committing on chain, as an honest node that crashed would, its checkpoints uploaded; its daemon still answers a delivery challenge",
    vanish: "after-commit",
  },
  lazy: {
    role: "verifier",
    description: "agrees without replaying",
    verdict: "agrees-without-replay",
  },
  skim: {
    role: "verifier",
    description:
      "replays its segment only up to the transcript's first leaf and claims the worker's end state for every later leaf",
    verdict: "invents-after-first-leaf",
  },
  grief: {
    role: "verifier",
    description: "disagrees with honest work",
    verdict: "disagrees",
  },
} as const satisfies Record<string, Fault>;

export type FaultMode = keyof typeof FAULTS;

/**
 * The fault a node was asked to inject, refused (FAULTS_REFUSED) unless faults are allowed, outside
 * production, for a mode that exists and fits the node's role.
 */
export function faultFor(mode: string, role: NodeRole, env: NodeJS.ProcessEnv = process.env): Fault {
  if (env.NODE_ENV === "production") {
    throw new NodeError(
      "FAULTS_REFUSED",
      "NODE_ENV=production never injects faults: a faulty node cheats real users",
    );
  }
  if (env.VERITRAIN_ALLOW_FAULTS !== "1") {
    throw new NodeError(
      "FAULTS_REFUSED",
      "--fault makes the node cheat on purpose: set VERITRAIN_ALLOW_FAULTS=1 to allow it",
    );
  }
  if (!Object.hasOwn(FAULTS, mode)) {
    throw new NodeError(
      "FAULTS_REFUSED",
      `unknown fault mode ${mode}; one of ${Object.keys(FAULTS).join(", ")}`,
    );
  }
  const fault: Fault = FAULTS[mode as FaultMode];
  if (fault.role !== role) {
    throw new NodeError(
      "FAULTS_REFUSED",
      `fault mode ${mode} is for a ${fault.role}, this node is a ${role}`,
    );
  }
  return fault;
}
