// The computations of the pinpoint game (PROTOCOL.md §6) on a real training run: for phase 1 the
// per-step state hashes of a stride window (replayWindow), for phase 2 the hash o_c of every node's
// outputs of one step's graph and the cumulative chain C_c, the inputs of the operator phase 2
// narrows to, and the referee's re-execution of that one operator.
import ort from "onnxruntime-node";
import { cumulativeChain, cumulativeStart, operatorOutputsSha256 } from "../../protocol/pinpoint.ts";
import type { Tensor } from "../onnx/dtypes.ts";
import { checkpointSha256, decodeCheckpoint, type TrainingState } from "./checkpoint.ts";
import { BatchOrder } from "./data/batches.ts";
import { TrainError } from "./errors.ts";
import { nodeInputs, singleNodeGraph, graphNodes as stepGraphNodes } from "./pinpoint-graphs.ts";
import { sessionOptions } from "./profile.ts";
import type { ReplayOptions } from "./replay.ts";
import { finishRun, nextRun, runOptions, setUpRun } from "./run-setup.ts";
import type { StepTraceRun } from "./step-engine.ts";

export interface StepTraceOptions extends Pick<ReplayOptions, "model" | "dataset" | "spec" | "threads"> {
  /** Canonical bytes of the agreed checkpoint: the state after step t − 1. */
  from: Uint8Array;
  /** Keep the evidence of these nodes (their inputs and provenance) for the referee. */
  evidenceOf?: readonly number[];
}

/** One training step t seen operator by operator (PROTOCOL.md §6.3). */
export interface StepTrace {
  /** t, 1-based: the step traced. */
  step: number;
  /** N: the nodes of the step graph; node N is the checkpoint assembly. */
  graphNodes: number;
  /** Node c's name and operator, c = 0 … N − 1. */
  operators: Array<{ name: string; opType: string }>;
  /** o_0 … o_N, hex SHA-256 (o_N is the state hash after step t). */
  outputs: string[];
  /** C_0 … C_{N+1}, 0x hex blake2-256. */
  cumulative: string[];
  /** SHA-256 of the canonical checkpoint bytes after step t: bit-identical to the training run's. */
  stateSha256: string;
  /** One per entry of `evidenceOf`, in its order. */
  evidence: OperatorEvidence[];
}

/**
 * What a party publishes once phase 2 narrows to node `node` of step `step`, so that a referee can
 * re-execute it alone: the node's inputs, and the provenance that lets the referee check them
 * against the chain — the hashes o_0 … o_{node−1}, which chain to the agreed C_node, and the
 * complete outputs of each earlier node an input comes from, which hash to its o_p.
 */
export interface OperatorEvidence {
  step: number;
  node: number;
  name: string;
  opType: string;
  /** Every named input of the node that is not a constant of the step graph. */
  inputs: Map<string, Tensor>;
  /** o_0 … o_{node−1}. */
  outputHashes: string[];
  /** The outputs of every earlier node that produces one of `inputs`, by node index. */
  producers: Map<number, Tensor[]>;
}

/**
 * Runs step t from the agreed state after step t − 1 in the step graph with every node output
 * exposed, and hashes each node's outputs. The state after the step is computed by the same graph
 * and kernels as training, so `stateSha256` (o_N) is the training run's leaf for step t.
 */
export async function traceStep(options: StepTraceOptions): Promise<StepTrace> {
  const setup = await setUpRun(options.model, options.dataset, options.spec, {
    ...runOptions(options),
    stepsPerRun: 1,
  });
  const { engine } = setup;
  try {
    const stored = decodeCheckpoint(options.from);
    const state: TrainingState = { ...stored, ...engine.fromCanonical(stored) };
    if (state.step >= setup.totalSteps) {
      throw new TrainError(
        "INVALID_CHECKPOINT",
        `the run has ${setup.totalSteps} steps; a checkpoint of step ${state.step} has none after it`,
      );
    }
    const order = new BatchOrder(setup.plan, state.position);
    const next = nextRun(setup, state, order, state.step + 1);
    const traced = await engine.trace(state, next.input);
    const after = finishRun(order, next, traced.outcome).state;
    const stateSha256 = checkpointSha256({ ...after, ...engine.canonical(after, { views: true }) });
    const outputs = [...traced.outputs.map((o) => operatorOutputsSha256(o)), stateSha256];
    const step = after.step;
    const trace: StepTrace = {
      step,
      graphNodes: traced.nodes.length,
      operators: traced.nodes.map((n) => ({ name: n.name ?? "", opType: n.opType ?? "" })),
      outputs,
      cumulative: cumulativeChain(BigInt(step), outputs),
      stateSha256,
      evidence: [],
    };
    const producerOf = new Map<string, number>();
    traced.nodes.forEach((n, c) => {
      for (const o of n.output ?? []) if (o !== "") producerOf.set(o, c);
    });
    for (const index of options.evidenceOf ?? []) {
      trace.evidence.push(evidenceFor(traced, producerOf, outputs, step, index));
    }
    return trace;
  } finally {
    await engine.release();
  }
}

function evidenceFor(
  traced: StepTraceRun,
  producerOf: ReadonlyMap<string, number>,
  outputs: readonly string[],
  step: number,
  index: number,
): OperatorEvidence {
  if (!Number.isInteger(index) || index < 0 || index >= traced.nodes.length) {
    throw new TrainError(
      "INVALID_SPEC",
      `the step graph has nodes 0-${traced.nodes.length - 1}; got ${index}`,
    );
  }
  const node = traced.nodes[index]!;
  const inputs = new Map<string, Tensor>();
  const producers = new Map<number, Tensor[]>();
  for (const name of nodeInputs(node)) {
    if (traced.initializers.has(name)) continue;
    const producer = producerOf.get(name);
    if (producer === undefined) {
      inputs.set(name, traced.fed.get(name)!);
      continue;
    }
    const produced = traced.outputs[producer]!;
    const at = (traced.nodes[producer]!.output ?? []).filter((o) => o !== "").indexOf(name);
    inputs.set(name, produced[at]!);
    producers.set(producer, produced);
  }
  return {
    step,
    node: index,
    name: node.name ?? "",
    opType: node.opType ?? "",
    inputs,
    outputHashes: outputs.slice(0, index),
    producers,
  };
}

/**
 * The one-step graph of step `step` (1-based) of the run, as training builds it: the referee cuts
 * the disputed operator out of it. An epoch's partial last batch has a graph of its own size.
 */
export async function stepGraphOf(
  options: Pick<ReplayOptions, "model" | "dataset" | "spec">,
  step: number,
): Promise<Uint8Array> {
  const setup = await setUpRun(options.model, options.dataset, options.spec, { stepsPerRun: 1 });
  try {
    if (!Number.isInteger(step) || step < 1 || step > setup.totalSteps) {
      throw new TrainError("INVALID_SPEC", `the run has steps 1-${setup.totalSteps}; got ${step}`);
    }
    const lastOfEpoch = step % setup.batchesPerEpoch === 0;
    const size =
      setup.partialLastBatch && lastOfEpoch
        ? setup.plan.samples % setup.plan.batchSize
        : setup.plan.batchSize;
    return setup.engine.stepGraphBytes(size);
  } finally {
    await setup.engine.release();
  }
}

/** An evidence bundle the referee cannot use: what is wrong with it, in words. */
export class EvidenceError extends Error {
  readonly code = "INVALID_EVIDENCE";
}

const sameTensor = (a: Tensor, b: Tensor) =>
  a.dtype === b.dtype &&
  a.dims.join() === b.dims.join() &&
  Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(
    Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength),
  );

/**
 * Checks evidence against what the chain records as agreed: o_0 … o_{n−1} must chain to
 * `cumulativeLo` (C_n, which both parties agreed on), and every input an earlier node produced must
 * be an output of that node whose outputs hash to its o_p. Inputs fed to the step graph (the
 * parameters and optimizer state of the agreed checkpoint, the batch, the scalars) are not covered
 * by the chain's hashes; see PROTOCOL.md §6.4 for how the referee treats them.
 */
export function checkEvidence(
  evidence: OperatorEvidence,
  agreed: { step: bigint; node: number; cumulativeLo: string },
  stepGraph: Uint8Array,
): void {
  if (BigInt(evidence.step) !== agreed.step || evidence.node !== agreed.node) {
    throw new EvidenceError(
      `evidence is for node ${evidence.node} of step ${evidence.step}; the dispute narrowed to node ${agreed.node} of step ${agreed.step}`,
    );
  }
  if (evidence.outputHashes.length !== agreed.node) {
    throw new EvidenceError(
      `evidence lists ${evidence.outputHashes.length} output hashes; node ${agreed.node} needs ${agreed.node}`,
    );
  }
  const chained =
    evidence.outputHashes.length === 0
      ? cumulativeStart(agreed.step)
      : cumulativeChain(agreed.step, evidence.outputHashes).at(-1)!;
  if (chained !== agreed.cumulativeLo) {
    throw new EvidenceError(
      `the output hashes chain to ${chained}, not to the agreed C_${agreed.node} ${agreed.cumulativeLo}`,
    );
  }
  const { node } = singleNodeGraph(stepGraph, agreed.node, evidence.inputs);
  for (const [producer, outputs] of evidence.producers) {
    if (producer >= agreed.node || operatorOutputsSha256(outputs) !== evidence.outputHashes[producer]) {
      throw new EvidenceError(
        `the outputs given for node ${producer} do not hash to the agreed o_${producer}`,
      );
    }
  }
  const producedBy = new Map<string, { producer: number; at: number }>();
  for (const [c, n] of stepGraphNodes(stepGraph).slice(0, agreed.node).entries()) {
    for (const [at, o] of (n.output ?? []).filter((name) => name !== "").entries()) {
      producedBy.set(o, { producer: c, at });
    }
  }
  for (const name of nodeInputs(node)) {
    const source = producedBy.get(name);
    const value = evidence.inputs.get(name);
    if (source === undefined || value === undefined) continue;
    const produced = evidence.producers.get(source.producer)?.[source.at];
    if (produced === undefined || !sameTensor(produced, value)) {
      throw new EvidenceError(
        `input ${name} is not the output of node ${source.producer} the agreed hashes cover`,
      );
    }
  }
}

/**
 * The referee's computation (PROTOCOL.md §6.4): node `index` of the step graph alone, as a one-node
 * ONNX graph in onnxruntime with the profile's session options, on `inputs`; the hash o_n of its
 * outputs.
 */
export async function runOperator(
  stepGraph: Uint8Array,
  index: number,
  inputs: ReadonlyMap<string, Tensor>,
  threads = 1,
): Promise<{ sha256: string; outputs: Tensor[] }> {
  const { bytes, outputs: names } = singleNodeGraph(stepGraph, index, inputs);
  const session = await ort.InferenceSession.create(bytes, sessionOptions(threads));
  try {
    const feeds = Object.fromEntries(
      session.inputNames.map((name) => {
        const t = inputs.get(name)!;
        return [name, new ort.Tensor(t.dtype, t.data, t.dims)];
      }),
    );
    const result = await session.run(feeds);
    const outputs = names.map(
      (name): Tensor => ({
        dtype: result[name]!.type as Tensor["dtype"],
        dims: [...result[name]!.dims],
        data: result[name]!.data as Tensor["data"],
      }),
    );
    return { sha256: operatorOutputsSha256(outputs), outputs };
  } finally {
    await session.release();
  }
}
