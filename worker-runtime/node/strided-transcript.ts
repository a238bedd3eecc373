// The verifier's strided transcript (chain/PROTOCOL.md §5.4) from the training engine's replay.
// Until replay.ts hashes only every `stride` steps itself (with the options `{ ..., stride }` and
// this result shape), the leaves are picked from its per-step hashes: every stride-th, and the last.
import { merkleRoot } from "../../protocol/merkle.ts";
import { type ReplayOptions, replayTranscript } from "../train/replay.ts";

export interface StridedTranscript {
  /** SHA-256 of the canonical checkpoint bytes after the segment's last step: the last leaf. */
  sha256: string;
  /** Leaf j hashes the state after step min(from + (j + 1)·stride, to); lowercase hex. */
  leaves: string[];
  /** The RFC 6962 Merkle root over the leaves, hex. */
  root: string;
}

/** `stride` is the segment's effective stride (protocol/transcript.ts effectiveStride). */
export async function replayStridedTranscript(
  options: Omit<ReplayOptions, "stepsPerRun"> & { stride: number },
): Promise<StridedTranscript> {
  const { stride, ...segment } = options;
  const { sha256, stepHashes } = await replayTranscript(segment);
  const last = stepHashes.length - 1;
  const leaves = stepHashes.filter((_, i) => (i + 1) % stride === 0 || i === last);
  const root = Buffer.from(merkleRoot(leaves.map((leaf) => Buffer.from(leaf, "hex")))).toString("hex");
  return { sha256, leaves, root };
}
