// The one Merkle tree of Veritrain: checkpoint commitments, receipts and verifiers all use it.
// Shape and hashing follow RFC 6962 / RFC 9162 (Certificate Transparency) so that any CT
// implementation can check our proofs: domain-separated leaf and node hashes defeat second
// pre-image attacks, and the left subtree always holds the largest power of two below n leaves.
import { createHash } from "node:crypto";

export type MerkleErrorCode = "EMPTY_TREE" | "INDEX_OUT_OF_RANGE" | "INVALID_HASH_LENGTH";

export class MerkleError extends Error {
  constructor(
    readonly code: MerkleErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "MerkleError";
  }
}

export const MERKLE_HASH_BYTES = 32;
const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

export interface MerkleInclusion {
  /** The leaf's own bytes (not its hash). */
  leaf: Uint8Array;
  index: number;
  treeSize: number;
  /** Sibling hashes from the leaf up to the root, as returned by merkleInclusionProof. */
  proof: Uint8Array[];
  root: Uint8Array;
}

function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

export function merkleLeafHash(leaf: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, leaf);
}

export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** Largest power of two strictly below n (n >= 2): the size of the left subtree. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function subtreeRoot(leaves: readonly Uint8Array[], start: number, end: number): Uint8Array {
  if (end - start === 1) return merkleLeafHash(leaves[start]!);
  const mid = start + splitPoint(end - start);
  return merkleNodeHash(subtreeRoot(leaves, start, mid), subtreeRoot(leaves, mid, end));
}

/** Root over the leaves in order; an empty list is refused because no commitment is empty. */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) throw new MerkleError("EMPTY_TREE", "a Merkle root needs at least one leaf");
  return subtreeRoot(leaves, 0, leaves.length);
}

function checkIndex(index: number, treeSize: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= treeSize) {
    throw new MerkleError(
      "INDEX_OUT_OF_RANGE",
      `leaf index ${index} is outside the tree; accepted: an integer in [0, ${treeSize - 1}]`,
    );
  }
}

/** Audit path for leaf `index` (RFC 6962 PATH(m, D[n])), ordered from the leaf upward. */
export function merkleInclusionProof(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  if (leaves.length === 0) throw new MerkleError("EMPTY_TREE", "an inclusion proof needs at least one leaf");
  checkIndex(index, leaves.length);
  const path: Uint8Array[] = [];
  let start = 0;
  let end = leaves.length;
  // Walk down from the root, recording the sibling subtree at each level; reverse at the end.
  while (end - start > 1) {
    const mid = start + splitPoint(end - start);
    if (index < mid) {
      path.push(subtreeRoot(leaves, mid, end));
      end = mid;
    } else {
      path.push(subtreeRoot(leaves, start, mid));
      start = mid;
    }
  }
  return path.reverse();
}

/** RFC 9162 section 2.1.3.2: recompute the root from the leaf and its path; true if it matches. */
export function verifyMerkleInclusion(inclusion: MerkleInclusion): boolean {
  const { leaf, index, treeSize, proof, root } = inclusion;
  if (!Number.isInteger(treeSize) || treeSize < 1) return false;
  if (!Number.isInteger(index) || index < 0 || index >= treeSize) return false;
  if (root.length !== MERKLE_HASH_BYTES) {
    throw new MerkleError("INVALID_HASH_LENGTH", `root has ${root.length} bytes; accepted: 32 (SHA-256)`);
  }
  let fn = index;
  let sn = treeSize - 1;
  let hash = merkleLeafHash(leaf);
  for (const sibling of proof) {
    if (sibling.length !== MERKLE_HASH_BYTES) return false;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      hash = merkleNodeHash(sibling, hash);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      hash = merkleNodeHash(hash, sibling);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && Buffer.from(hash).equals(Buffer.from(root));
}
