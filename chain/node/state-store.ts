// Every block's state as a versioned key-value map: each key keeps its values by block number, so
// any recent block can be read (state_getStorage at a hash) without copying whole states.
//
// State root: blake2_256 of an additive multiset hash (the sum modulo 2^256 of
// blake2_256(compact(|key|) ++ key ++ value) over all entries). It commits to exactly the set of
// entries, does not depend on write order, and updates in O(changed keys) per block. It is not a
// Merkle-Patricia root: there are no storage proofs on this dev chain.
import { bnToU8a, compactToU8a, u8aConcat, u8aToBigInt, u8aToHex } from "@polkadot/util";
import { blake2AsU8a } from "@polkadot/util-crypto";
import type { StateView } from "../runtime/overlay.ts";
import { hexBytes } from "../runtime/runtime.ts";

type History = { readonly blocks: number[]; readonly values: (Uint8Array | null)[] };

const MODULUS = 1n << 256n;

function entryHash(key: string, value: Uint8Array): bigint {
  const keyBytes = hexBytes(key);
  return u8aToBigInt(blake2AsU8a(u8aConcat(compactToU8a(keyBytes.length), keyBytes, value), 256));
}

function stateRoot(sum: bigint): string {
  return u8aToHex(blake2AsU8a(bnToU8a(sum, { bitLength: 256 }), 256));
}

export class StateStore {
  readonly #history = new Map<string, History>();
  /** The multiset sum after each block, by block number (what a root on top of any block starts from). */
  readonly #sums: bigint[] = [];
  #head = -1;

  get head(): number {
    return this.#head;
  }

  /** Records a block's writes (null = deleted) and returns the new state root. */
  apply(blockNumber: number, changes: ReadonlyMap<string, Uint8Array | null>): string {
    const sum = this.#sumAfter(this.#head, changes);
    for (const [key, value] of changes) {
      let history = this.#history.get(key);
      if (history === undefined) {
        history = { blocks: [], values: [] };
        this.#history.set(key, history);
      }
      history.blocks.push(blockNumber);
      history.values.push(value);
    }
    this.#sums[blockNumber] = sum;
    this.#head = blockNumber;
    return stateRoot(sum);
  }

  /** The state root `changes` would give on top of block `blockNumber`, recording nothing. */
  rootAfter(blockNumber: number, changes: ReadonlyMap<string, Uint8Array | null>): string {
    return stateRoot(this.#sumAfter(blockNumber, changes));
  }

  #sumAfter(blockNumber: number, changes: ReadonlyMap<string, Uint8Array | null>): bigint {
    let sum = this.#sums[blockNumber] ?? 0n;
    for (const [key, value] of changes) {
      const previous = this.#valueAt(key, blockNumber);
      if (previous !== undefined) sum -= entryHash(key, previous);
      if (value !== null) sum += entryHash(key, value);
    }
    return ((sum % MODULUS) + MODULUS) % MODULUS;
  }

  /** The state after block `blockNumber` was applied. */
  at(blockNumber: number): StateView {
    return {
      get: (key) => this.#valueAt(key, blockNumber),
      keysWithPrefix: (prefix) => this.keysAt(prefix, blockNumber),
    };
  }

  keysAt(prefix: string, blockNumber: number): string[] {
    const keys: string[] = [];
    for (const key of this.#history.keys()) {
      if (key.startsWith(prefix) && this.#valueAt(key, blockNumber) !== undefined) keys.push(key);
    }
    return keys.sort();
  }

  #valueAt(key: string, blockNumber: number): Uint8Array | undefined {
    const history = this.#history.get(key);
    if (history === undefined) return undefined;
    const { blocks, values } = history;
    let low = 0;
    let high = blocks.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (blocks[middle]! <= blockNumber) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found < 0 ? undefined : (values[found] ?? undefined);
  }
}
