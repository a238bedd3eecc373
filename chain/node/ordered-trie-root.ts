// Substrate's ordered trie root (sp_trie, blake2_256) of a list of values keyed by their
// SCALE-compact index: the extrinsics root of a block header. A runtime whose version has
// state/system version 0 or 1 computes it with trie layout V0 (values always inline).
//
// Node encoding (sp_trie::node_codec, no extension nodes): a header byte with the node kind in the
// high bits and the partial-key nibble count in the low bits (leaf 0b01, branch without value
// 0b10); the partial key right-aligned in bytes; a leaf's value as compact length ++ bytes; a
// branch's u16 little-endian child bitmap and each child as compact length ++ (the child's
// encoding when shorter than 32 bytes, else its blake2_256). Compact indices are prefix-free, so
// no branch holds a value, and partial keys of at most 10 nibbles always fit the one-byte header.
import { compactAddLength, compactToU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsU8a } from "@polkadot/util-crypto";

const LEAF = 0b0100_0000;
const BRANCH_WITHOUT_VALUE = 0b1000_0000;
const HASH_LENGTH = 32;

type Entry = { readonly nibbles: readonly number[]; readonly value: Uint8Array };

function nibblesOf(bytes: Uint8Array): number[] {
  const nibbles: number[] = [];
  for (const byte of bytes) nibbles.push(byte >> 4, byte & 0x0f);
  return nibbles;
}

/** A partial key, right-aligned: an odd count puts the first nibble alone in the low half of a byte. */
function packNibbles(nibbles: readonly number[]): Uint8Array {
  const odd = nibbles.length % 2;
  const bytes = new Uint8Array(Math.ceil(nibbles.length / 2));
  if (odd === 1) bytes[0] = nibbles[0]!;
  for (let i = odd; i < nibbles.length; i += 2) bytes[(i + odd) >> 1] = (nibbles[i]! << 4) | nibbles[i + 1]!;
  return bytes;
}

function commonPrefixLength(entries: readonly Entry[], depth: number): number {
  const first = entries[0]!.nibbles;
  let length = 0;
  while (
    depth + length < first.length &&
    entries.every((entry) => entry.nibbles[depth + length] === first[depth + length])
  ) {
    length++;
  }
  return length;
}

function encodeNode(entries: readonly Entry[], depth: number): Uint8Array {
  if (entries.length === 1) {
    const { nibbles, value } = entries[0]!;
    const partial = nibbles.slice(depth);
    return u8aConcat([LEAF | partial.length], packNibbles(partial), compactAddLength(value));
  }
  const shared = commonPrefixLength(entries, depth);
  const partial = entries[0]!.nibbles.slice(depth, depth + shared);
  const at = depth + shared;
  let bitmap = 0;
  const children: Uint8Array[] = [];
  for (let nibble = 0; nibble < 16; nibble++) {
    const group = entries.filter((entry) => entry.nibbles[at] === nibble);
    if (group.length === 0) continue;
    bitmap |= 1 << nibble;
    const child = encodeNode(group, at + 1);
    children.push(compactAddLength(child.length < HASH_LENGTH ? child : blake2AsU8a(child, 256)));
  }
  return u8aConcat(
    [BRANCH_WITHOUT_VALUE | partial.length],
    packNibbles(partial),
    [bitmap & 0xff, bitmap >> 8],
    ...children,
  );
}

export function orderedTrieRoot(values: readonly Uint8Array[]): string {
  if (values.length === 0) return u8aToHex(blake2AsU8a(new Uint8Array([0]), 256));
  const entries = values.map((value, index) => ({ nibbles: nibblesOf(compactToU8a(index)), value }));
  return u8aToHex(blake2AsU8a(encodeNode(entries, 0), 256));
}
