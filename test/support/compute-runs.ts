// Simulated training runs for the Compute tests: the state after each step and each operator's
// output as an honest party or a forger computes them, and the Merkle trees built over them
// (checkpoint commitments, verifier transcripts) with the shared RFC 6962 tree of the SDK.
import { u8aToHex } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import { cumulativeNext, cumulativeStart } from "../../chain/runtime/pallets/compute-hashing.ts";
import type { Hash } from "../../chain/runtime/pallets/compute-types.ts";
import { merkleInclusionProof, merkleRoot } from "../../protocol/merkle.ts";
import { TranscriptLayout } from "../../protocol/transcript.ts";

/** A training run as some party computed it: the state after each step and each operator's output. */
export interface TrainingView {
  readonly graphNodes: number;
  state(step: bigint): Hash;
  /** Output hash of node `node` at `step`; node `graphNodes` is the checkpoint assembly (the state). */
  output(step: bigint, node: number): Hash;
}

function tagged(...parts: Array<string | bigint | number>): Hash {
  return blake2AsHex(parts.map(String).join("/"), 256);
}

export function honestRun(graphNodes: number): TrainingView {
  return {
    graphNodes,
    state: (step) => tagged("state", step),
    output: (step, node) => (node === graphNodes ? tagged("state", step) : tagged("out", step, node)),
  };
}

/** A run that goes wrong at operator `node` of step `step` and stays wrong afterwards. */
export function forgedRun(graphNodes: number, step: bigint, node: number): TrainingView {
  const honest = honestRun(graphNodes);
  const wrong = (t: bigint, c: number) => t > step || (t === step && c >= node);
  return {
    graphNodes,
    state: (t) => (t >= step ? tagged("forged-state", t) : honest.state(t)),
    output: (t, c) => {
      if (c === graphNodes) return t >= step ? tagged("forged-state", t) : honest.state(t);
      return wrong(t, c) ? tagged("forged-out", t, c) : honest.output(t, c);
    },
  };
}

export function cumulative(view: TrainingView, step: bigint, count: bigint): Hash {
  let hash = cumulativeStart(step);
  for (let c = 0; c < Number(count); c++) hash = cumulativeNext(hash, view.output(step, c));
  return hash;
}

const bytes = (hash: Hash) => Uint8Array.from(Buffer.from(hash.slice(2), "hex"));

export function checkpointSteps(steps: bigint, interval: bigint): bigint[] {
  const points = [0n];
  for (let s = interval; s < steps; s += interval) points.push(s);
  points.push(steps);
  return points;
}

export function checkpointTree(view: TrainingView, steps: bigint, interval: bigint) {
  const leaves = checkpointSteps(steps, interval).map((s) => bytes(view.state(s)));
  return {
    root: u8aToHex(merkleRoot(leaves)),
    checkpoints: leaves.length,
    proof: (leaf: number) => merkleInclusionProof(leaves, leaf).map((p) => u8aToHex(p)),
  };
}

/** A run equal to `view` except for the state after `step`: a transcript altered at one leaf. */
export function alteredRun(view: TrainingView, step: bigint): TrainingView {
  return {
    graphNodes: view.graphNodes,
    state: (t) => (t === step ? tagged("altered-state", t) : view.state(t)),
    output: (t, c) => (t === step && c === view.graphNodes ? tagged("altered-state", t) : view.output(t, c)),
  };
}

/** What a lazy verifier claims: the worker's end state after every step of the segment. */
export function lazyRun(view: TrainingView, end: bigint): TrainingView {
  return {
    graphNodes: view.graphNodes,
    state: () => view.state(end),
    output: (t, c) => (c === view.graphNodes ? view.state(end) : view.output(t, c)),
  };
}

/** A verdict's strided transcript (protocol/transcript.ts) over `view`'s states in (start, end]. */
export function transcriptTree(view: TrainingView, start: bigint, end: bigint, stride: bigint) {
  const layout = new TranscriptLayout(start, end, stride);
  const leaves = layout.steps().map((s) => bytes(view.state(s)));
  return {
    layout,
    root: u8aToHex(merkleRoot(leaves)),
    endState: view.state(end),
    /** The inclusion proof of the leaf for `step`; none inside a stride window, where no leaf is. */
    proof: (step: bigint): Hash[] => {
      const leaf = layout.leafOf(step);
      return leaf === null ? [] : merkleInclusionProof(leaves, leaf).map((p) => u8aToHex(p));
    },
  };
}

export type TranscriptTree = ReturnType<typeof transcriptTree>;
