// The computations of the pinpoint game (PROTOCOL.md §6) on a real training run: for phase 2 the
// hash o_c of every node's outputs of one step's graph and the cumulative chain C_c, the evidence a
// party publishes once the game narrows to one node, and the referee's re-execution of that node
// alone. Phase 1's per-step state hashes come from replayWindow (replay.ts).
import ort from "onnxruntime-node";
import { cumulativeChain, cumulativeStart, operatorOutputsSha256 } from "../../protocol/pinpoint.ts";
import type { Tensor } from "../onnx/dtypes.ts";
import { checkpointSha256, decodeCheckpoint, type TrainingState } from "./checkpoint.ts";
import { BatchOrder } from "./data/batches.ts";
import { TrainError } from "./errors.ts";
import { type GamePosition, gamePositions, namedOutputs, positionGraph } from "./pinpoint-graphs.ts";
import { sessionOptions } from "./profile.ts";
import type { ReplayOptions } from "./replay.ts";
import { finishRun, type NextRun, nextRun, type RunSetup, runOptions, setUpRun } from "./run-setup.ts";
import { batchSizeOf, type StepTraceRun } from "./step-engine.ts";

export type PinpointRun = Pick<ReplayOptions, "model" | "dataset" | "spec" | "threads">;

export interface StepTraceOptions extends PinpointRun {
  /** Canonical bytes of the agreed checkpoint: the state after step t − 1. */
  from: Uint8Array;
  /** Keep the evidence of these positions (0 … N; N is the checkpoint assembly) for the referee. */
  evidenceOf?: readonly number[];
  /**
   * The task's step graph of this step, when the run traced is another graph (a worker that
   * trained a rewritten model): the trace reports its nodes' positions, not the traced graph's.
   */
  taskStepGraph?: Uint8Array;
}

/** One training step t seen operator by operator (PROTOCOL.md §6.3). */
export interface StepTrace {
  /** t, 1-based: the step traced. */
  step: number;
  /** N: the positions of the step graph (pinpoint-graphs.ts); node N is the checkpoint assembly. */
  graphNodes: number;
  /** Position c's node name and operator, c = 0 … N − 1. */
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
 * re-execute it alone and check every value against what the parties agreed on: the agreed
 * checkpoint after step t − 1 (the referee derives the graph's fed inputs from it: parameters,
 * optimizer state, the batch, the scalars), the hashes o_0 … o_{node−1} (which must chain to the
 * agreed C_node), and the inputs computed by earlier nodes with those nodes' complete outputs
 * (which must hash to their o_p). For node N, the checkpoint assembly, the "inputs" are the graph
 * outputs the next state is made of.
 */
export interface OperatorEvidence {
  step: number;
  node: number;
  name: string;
  opType: string;
  /** The agreed state after step − 1, canonical checkpoint bytes. */
  agreedCheckpoint: Uint8Array;
  /** The inputs earlier nodes computed, by name. */
  inputs: Map<string, Tensor>;
  /** o_0 … o_{node−1}. */
  outputHashes: string[];
  /** The outputs of every earlier node that produces one of `inputs`, by node index. */
  producers: Map<number, Tensor[]>;
}

/** The step graph and the agreed state of a run, set up to compute step `state.step + 1`. */
interface StepAt {
  setup: RunSetup;
  state: TrainingState;
  order: BatchOrder;
  next: NextRun;
}

async function stepFrom(run: PinpointRun, from: Uint8Array): Promise<StepAt> {
  const setup = await setUpRun(run.model, run.dataset, run.spec, { ...runOptions(run), stepsPerRun: 1 });
  try {
    const stored = decodeCheckpoint(from);
    const state: TrainingState = { ...stored, ...setup.engine.fromCanonical(stored) };
    if (state.step >= setup.totalSteps) {
      throw new TrainError(
        "INVALID_CHECKPOINT",
        `the run has ${setup.totalSteps} steps; a checkpoint of step ${state.step} has none after it`,
      );
    }
    const order = new BatchOrder(setup.plan, state.position);
    return { setup, state, order, next: nextRun(setup, state, order, state.step + 1) };
  } catch (error) {
    await setup.engine.release();
    throw error;
  }
}

/** The position that computes each of its outputs, and the value's place among them. */
function producers(positions: readonly GamePosition[]): Map<string, { node: number; at: number }> {
  const byName = new Map<string, { node: number; at: number }>();
  for (const [c, position] of positions.entries()) {
    for (const [at, name] of position.outputs.entries()) byName.set(name, { node: c, at });
  }
  return byName;
}

/** The graph values position `index` reads (position N: the graph outputs the next state is made of). */
function readsOf(
  positions: readonly GamePosition[],
  stateOutputs: { params: Map<string, string>; state: Map<string, string> },
  index: number,
): string[] {
  if (index === positions.length) return [...stateOutputs.params.values(), ...stateOutputs.state.values()];
  return positions[index]!.inputs;
}

/**
 * o_c of a position whose outputs the traced run did not compute: the hash of no outputs at all,
 * which no node's outputs hash to (every node has at least one), so the position disagrees with
 * any run that computed it.
 */
export const NOT_COMPUTED = operatorOutputsSha256([]);

/**
 * The outputs a traced run computed, at `positions` (the task's step graph's): each position's
 * outputs looked up by name among every value the run computed, in the position's output order;
 * null where the run did not compute any of them. A node of the traced graph that no position
 * names contributes nothing. For the traced graph itself this is its own positions' outputs.
 */
export function projectOutputs(
  traced: Pick<StepTraceRun, "nodes" | "outputs">,
  positions: readonly GamePosition[],
): Array<Tensor[] | null> {
  const computed = new Map(
    traced.nodes.flatMap((node, n) =>
      namedOutputs(node).map((name, at): [string, Tensor] => [name, traced.outputs[n]![at]!]),
    ),
  );
  return positions.map((position) => {
    const values = position.outputs.map((name) => computed.get(name));
    return values.every((v) => v !== undefined) ? (values as Tensor[]) : null;
  });
}

/**
 * Runs step t from the agreed state after step t − 1 in the step graph with every node output
 * exposed, and hashes each position's outputs (at the task's step graph's positions when given).
 * The state after the step is computed by the same graph and kernels as training, so
 * `stateSha256` (o_N) is the training run's leaf for step t.
 */
export async function traceStep(options: StepTraceOptions): Promise<StepTrace> {
  const { setup, state, order, next } = await stepFrom(options, options.from);
  const { engine } = setup;
  try {
    const traced = await engine.trace(state, next.input);
    const after = finishRun(order, next, traced.outcome).state;
    const stateSha256 = checkpointSha256({ ...after, ...engine.canonical(after, { views: true }) });
    // The positions of the game are the task's step graph's; a run of another graph reports what it
    // computed at them, by value name (PROTOCOL.md §6.3).
    const positions = gamePositions(options.taskStepGraph ?? engine.stepGraphBytes(batchSizeOf(next.input)));
    const projected = projectOutputs(traced, positions);
    const outputs = [...projected.map((o) => (o ? operatorOutputsSha256(o) : NOT_COMPUTED)), stateSha256];
    const step = after.step;
    const producedBy = producers(positions);
    const evidence = (options.evidenceOf ?? []).map((index): OperatorEvidence => {
      if (!Number.isInteger(index) || index < 0 || index > positions.length) {
        throw new TrainError(
          "INVALID_SPEC",
          `the step graph has positions 0-${positions.length}; got ${index}`,
        );
      }
      const inputs = new Map<string, Tensor>();
      const fromNodes = new Map<number, Tensor[]>();
      for (const name of readsOf(positions, traced.stateOutputs, index)) {
        const source = producedBy.get(name);
        const values = source && projected[source.node];
        if (!source || !values) continue;
        inputs.set(name, values[source.at]!);
        fromNodes.set(source.node, values);
      }
      const node = positions[index]?.node;
      return {
        step,
        node: index,
        name: node?.name ?? "checkpoint assembly",
        opType: node?.opType ?? "Checkpoint",
        agreedCheckpoint: options.from,
        inputs,
        outputHashes: outputs.slice(0, index),
        producers: fromNodes,
      };
    });
    return {
      step,
      graphNodes: positions.length,
      operators: positions.map(({ node }) => ({ name: node.name ?? "", opType: node.opType ?? "" })),
      outputs,
      cumulative: cumulativeChain(BigInt(step), outputs),
      stateSha256,
      evidence,
    };
  } finally {
    await engine.release();
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

/** Where the game narrowed to, as the chain records it. */
export interface NarrowedDispute {
  step: bigint;
  node: number;
  /** C_node, which both parties agreed on. */
  cumulativeLo: string;
  /** The hash of the agreed state after step − 1 (PROTOCOL.md §6.2). */
  agreedState: string;
}

/**
 * Checks evidence against what the parties agreed on: its checkpoint is the agreed state after
 * step t − 1, o_0 … o_{n−1} chain to the agreed C_n, and every input an earlier node computed is an
 * output of that node whose outputs hash to its o_p. What passes is exactly the inputs the honest
 * run feeds node n.
 */
export function checkEvidence(
  evidence: OperatorEvidence,
  agreed: NarrowedDispute,
  stepGraph: Uint8Array,
): void {
  if (BigInt(evidence.step) !== agreed.step || evidence.node !== agreed.node) {
    throw new EvidenceError(
      `evidence is for node ${evidence.node} of step ${evidence.step}; the dispute narrowed to node ${agreed.node} of step ${agreed.step}`,
    );
  }
  const held = checkpointSha256(decodeCheckpoint(evidence.agreedCheckpoint));
  if (held !== agreed.agreedState.replace(/^0x/, "")) {
    throw new EvidenceError(
      `its checkpoint hashes to ${held}, not to the agreed state ${agreed.agreedState}`,
    );
  }
  if (evidence.outputHashes.length !== agreed.node) {
    throw new EvidenceError(
      `evidence lists ${evidence.outputHashes.length} output hashes; node ${agreed.node} needs ${agreed.node}`,
    );
  }
  const chained = cumulativeChain(agreed.step, evidence.outputHashes).at(-1) ?? cumulativeStart(agreed.step);
  if (chained !== agreed.cumulativeLo) {
    throw new EvidenceError(
      `the output hashes chain to ${chained}, not to the agreed C_${agreed.node} ${agreed.cumulativeLo}`,
    );
  }
  for (const [producer, outputs] of evidence.producers) {
    if (producer >= agreed.node || operatorOutputsSha256(outputs) !== evidence.outputHashes[producer]) {
      throw new EvidenceError(
        `the outputs given for node ${producer} do not hash to the agreed o_${producer}`,
      );
    }
  }
  const producedBy = producers(gamePositions(stepGraph).slice(0, agreed.node));
  for (const [name, value] of evidence.inputs) {
    const source = producedBy.get(name);
    const produced = source && evidence.producers.get(source.node)?.[source.at];
    if (produced === undefined || !sameTensor(produced, value)) {
      throw new EvidenceError(`input ${name} is not an output of an earlier node the agreed hashes cover`);
    }
  }
}

/**
 * The one-step graph of step `step` (1-based) of the run, as training builds it: the referee cuts
 * the disputed operator out of it. An epoch's partial last batch has a graph of its own size.
 */
export async function stepGraphOf(run: PinpointRun, step: number): Promise<Uint8Array> {
  const setup = await setUpRun(run.model, run.dataset, run.spec, { ...runOptions(run), stepsPerRun: 1 });
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

/**
 * The referee's computation (PROTOCOL.md §6.4) for one step of a run, from the agreed state after
 * step t − 1: o_n of any position n of step t from checked evidence. Position n < N runs alone as an
 * ONNX graph of its node (with its thread-layout helpers, if any) in onnxruntime with the profile's
 * session options, fed the evidence's inputs and, for values the step graph is fed, those derived
 * from the agreed checkpoint; node N assembles the checkpoint after step t from the graph outputs
 * and hashes it.
 */
export class StepReferee {
  private constructor(
    private readonly at: StepAt,
    private readonly agreedCheckpoint: Uint8Array,
    /** The one-step graph of step t. */
    readonly stepGraph: Uint8Array,
  ) {}

  static async open(run: PinpointRun, agreedCheckpoint: Uint8Array): Promise<StepReferee> {
    const at = await stepFrom(run, agreedCheckpoint);
    const stepGraph = at.setup.engine.stepGraphBytes(batchSizeOf(at.next.input));
    return new StepReferee(at, agreedCheckpoint, stepGraph);
  }

  /** t: the step this referee computes. */
  get step(): number {
    return this.at.state.step + 1;
  }

  async output(evidence: OperatorEvidence, agreed: NarrowedDispute): Promise<string> {
    const { setup, state, order, next } = this.at;
    const { engine } = setup;
    if (BigInt(this.step) !== agreed.step) {
      throw new EvidenceError(
        `this referee computes step ${this.step}, the dispute is about step ${agreed.step}`,
      );
    }
    if (!Buffer.from(evidence.agreedCheckpoint).equals(Buffer.from(this.agreedCheckpoint))) {
      throw new EvidenceError("the evidence starts from another checkpoint than this referee's");
    }
    checkEvidence(evidence, agreed, this.stepGraph);
    const fed = engine.stepFeeds(state, next.input);
    const positions = gamePositions(this.stepGraph);
    const lookup = (name: string) => evidence.inputs.get(name) ?? fed.get(name);
    if (agreed.node < positions.length) {
      const inputs = new Map<string, Tensor>();
      for (const name of positions[agreed.node]!.inputs) {
        const value = lookup(name);
        if (value) inputs.set(name, value);
      }
      return (await runOperator(this.stepGraph, agreed.node, inputs, engine.threads)).sha256;
    }
    const assemble = (names: Map<string, string>) =>
      new Map(
        [...names].map(([input, output]): [string, Tensor] => {
          const value = lookup(output);
          if (!value) throw new EvidenceError(`the evidence lacks graph output ${output}`);
          return [input, value];
        }),
      );
    const { params, state: stateOutputs } = engine.graph.outputs;
    // The order is copied: assembling must not move this referee's data position.
    const after = finishRun(new BatchOrder(setup.plan, order.position()), next, {
      losses: [0],
      corrects: undefined,
      params: assemble(params),
      state: assemble(stateOutputs),
    }).state;
    return checkpointSha256({ ...after, ...engine.canonical(after, { views: true }) });
  }

  async close(): Promise<void> {
    await this.at.setup.engine.release();
  }
}

/**
 * Position `index` of the step graph alone (one node, or a node with its thread-layout helpers) as
 * an ONNX graph in onnxruntime with the profile's session options, on `inputs`; the hash o_n of its
 * outputs.
 */
export async function runOperator(
  stepGraph: Uint8Array,
  index: number,
  inputs: ReadonlyMap<string, Tensor>,
  threads = 1,
): Promise<{ sha256: string; outputs: Tensor[] }> {
  const { bytes, position } = positionGraph(stepGraph, index, inputs);
  const names = position.outputs;
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
