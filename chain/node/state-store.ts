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

export class StateStore {
  readonly #history = new Map<string, History>();
  #sum = 0n;
  #head = -1;

  get head(): number {
    return this.#head;
  }

  /** Records a block's writes (null = deleted) and returns the new state root. */
  apply(blockNumber: number, changes: ReadonlyMap<string, Uint8Array | null>): string {
    for (const [key, value] of changes) {
      const previous = this.#valueAt(key, this.#head);
      if (previous !== undefined) this.#sum -= entryHash(key, previous);
      if (value !== null) this.#sum += entryHash(key, value);
      let history = this.#history.get(key);
      if (history === undefined) {
        history = { blocks: [], values: [] };
        this.#history.set(key, history);
      }
      history.blocks.push(blockNumber);
      history.values.push(value);
    }
    this.#sum = ((this.#sum % MODULUS) + MODULUS) % MODULUS;
    this.#head = blockNumber;
    return u8aToHex(blake2AsU8a(bnToU8a(this.#sum, { bitLength: 256 }), 256));
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
