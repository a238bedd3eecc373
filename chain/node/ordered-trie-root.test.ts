import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { u8aToHex } from "@polkadot/util";
import { blake2AsU8a, cryptoWaitReady } from "@polkadot/util-crypto";
import { orderedTrieRoot } from "./ordered-trie-root.ts";

before(() => cryptoWaitReady());

describe("orderedTrieRoot", () => {
  it("gives Substrate's empty trie root for no extrinsics", () => {
    assert.equal(orderedTrieRoot([]), "0x03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314");
  });

  it("hashes a single leaf: header 0x42 (leaf, 2 nibbles), key 0x00, compact length, value", () => {
    const node = new Uint8Array([0x42, 0x00, 0x0c, 1, 2, 3]);
    assert.equal(orderedTrieRoot([new Uint8Array([1, 2, 3])]), u8aToHex(blake2AsU8a(node, 256)));
  });

  it("branches on the first differing nibble and depends on order", () => {
    const values = [new Uint8Array([1]), new Uint8Array([2])];
    // keys 0x00 and 0x04: shared nibble 0, children at nibbles 0 and 4, leaves with no key left.
    const leaf = (value: number) => new Uint8Array([0x40, 0x04, value]);
    const child = (value: number) => new Uint8Array([0x0c, ...leaf(value)]);
    const branch = new Uint8Array([0x81, 0x00, 0b0001_0001, 0x00, ...child(1), ...child(2)]);
    assert.equal(orderedTrieRoot(values), u8aToHex(blake2AsU8a(branch, 256)));
    assert.notEqual(orderedTrieRoot([...values].reverse()), orderedTrieRoot(values));
  });
});
