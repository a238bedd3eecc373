import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { MerkleError, merkleInclusionProof, merkleRoot, verifyMerkleInclusion } from "./merkle.ts";

// Expected values are spelled out with raw SHA-256 so the test does not reuse the code under test.
function h(...parts: Array<Uint8Array | number[]>): Uint8Array {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(Uint8Array.from(part));
  return new Uint8Array(hash.digest());
}
const leaf = (i: number) => Uint8Array.of(i, i + 100);
const L = (i: number) => h([0], leaf(i));
const N = (a: Uint8Array, b: Uint8Array) => h([1], a, b);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("merkleRoot", () => {
  it("one leaf: the leaf hash", () => {
    assert.equal(hex(merkleRoot([leaf(0)])), hex(L(0)));
  });
  it("two leaves", () => {
    assert.equal(hex(merkleRoot([leaf(0), leaf(1)])), hex(N(L(0), L(1))));
  });
  it("three leaves: left subtree of two, right of one", () => {
    const leaves = [0, 1, 2].map(leaf);
    assert.equal(hex(merkleRoot(leaves)), hex(N(N(L(0), L(1)), L(2))));
  });
  it("five leaves: left subtree of four, right of one", () => {
    const leaves = [0, 1, 2, 3, 4].map(leaf);
    const expected = N(N(N(L(0), L(1)), N(L(2), L(3))), L(4));
    assert.equal(hex(merkleRoot(leaves)), hex(expected));
  });
  it("RFC 6962 leaf hash of the empty string", () => {
    assert.equal(
      hex(merkleRoot([new Uint8Array(0)])),
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    );
  });
  it("refuses an empty tree with a code", () => {
    assert.throws(
      () => merkleRoot([]),
      (e: unknown) => e instanceof MerkleError && e.code === "EMPTY_TREE",
    );
  });
});

describe("inclusion proofs", () => {
  it("five leaves: the path of leaf 2 is [L3, N(L0,L1), L4]", () => {
    const leaves = [0, 1, 2, 3, 4].map(leaf);
    assert.deepEqual(merkleInclusionProof(leaves, 2).map(hex), [L(3), N(L(0), L(1)), L(4)].map(hex));
    assert.deepEqual(merkleInclusionProof(leaves, 4).map(hex), [N(N(L(0), L(1)), N(L(2), L(3)))].map(hex));
  });

  it("round-trips for every index of trees of size 1 to 17", () => {
    for (let n = 1; n <= 17; n++) {
      const leaves = Array.from({ length: n }, (_, i) => leaf(i));
      const root = merkleRoot(leaves);
      for (let index = 0; index < n; index++) {
        const proof = merkleInclusionProof(leaves, index);
        assert.ok(
          verifyMerkleInclusion({ leaf: leaves[index]!, index, treeSize: n, proof, root }),
          `n=${n} i=${index}`,
        );
      }
    }
  });

  it("fails on a tampered leaf, sibling, index, size or root", () => {
    const leaves = Array.from({ length: 7 }, (_, i) => leaf(i));
    const root = merkleRoot(leaves);
    const proof = merkleInclusionProof(leaves, 3);
    const good = { leaf: leaves[3]!, index: 3, treeSize: 7, proof, root };
    assert.ok(verifyMerkleInclusion(good));
    assert.ok(!verifyMerkleInclusion({ ...good, leaf: leaf(9) }));
    const flipped = proof.map((p) => Uint8Array.from(p));
    flipped[1]![0]! ^= 1;
    assert.ok(!verifyMerkleInclusion({ ...good, proof: flipped }));
    assert.ok(!verifyMerkleInclusion({ ...good, index: 2 }));
    assert.ok(!verifyMerkleInclusion({ ...good, treeSize: 4 }));
    assert.ok(!verifyMerkleInclusion({ ...good, proof: proof.slice(1) }));
    assert.ok(!verifyMerkleInclusion({ ...good, proof: [...proof, L(0)] }));
    const badRoot = Uint8Array.from(root);
    badRoot[31]! ^= 1;
    assert.ok(!verifyMerkleInclusion({ ...good, root: badRoot }));
  });

  it("refuses an out-of-range index with a code", () => {
    assert.throws(
      () => merkleInclusionProof([leaf(0)], 1),
      (e: unknown) => e instanceof MerkleError && e.code === "INDEX_OUT_OF_RANGE",
    );
  });
});
