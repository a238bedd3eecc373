// The pallet's hash derivations: random draws from block randomness (PROTOCOL.md §4), the
// forced-error test and its commitments (§5.5), and the operator bisection's cumulative hashes (§6.3).
import { hexToU8a, u8aConcat, u8aEq, u8aToHex } from "@polkadot/util";
import { blake2AsU8a } from "@polkadot/util-crypto";
import type { DispatchContext } from "../pallet.ts";
import type { Hash } from "./compute-types.ts";

export type RandomSubject = "vt/worker" | "vt/audits";

function u64Le(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return bytes;
}

function u32Le(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

/** blake2_256(tag ‖ task_id_le ‖ attempt_le ‖ parent block hash). */
export function taskSeed(ctx: DispatchContext, tag: RandomSubject, taskId: bigint, attempt: number): Hash {
  return ctx.randomness(u8aConcat(new TextEncoder().encode(tag), u64Le(taskId), u32Le(attempt)));
}

/**
 * The numbers a seed yields: draw i is the first 8 bytes (little endian) of the i-th hash of the
 * chain seed, blake2(seed), blake2(blake2(seed)), … modulo the range.
 */
export class RandomStream {
  #state: Uint8Array;

  constructor(seed: Hash) {
    this.#state = hexToU8a(seed);
  }

  /** A number in [0, n), n >= 1. */
  below(n: number): number {
    const value = new DataView(this.#state.buffer, this.#state.byteOffset, 8).getBigUint64(0, true);
    this.#state = blake2AsU8a(this.#state, 256);
    return Number(value % BigInt(n));
  }

  /** min(count, n) distinct numbers of [0, n), by a partial Fisher–Yates shuffle. */
  distinct(count: number, n: number): number[] {
    const pool = Array.from({ length: n }, (_, i) => i);
    const taken = Math.min(count, n);
    for (let i = 0; i < taken; i++) {
      const j = i + this.below(n - i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, taken);
  }
}

export function commitmentOf(secret: Hash): Hash {
  return u8aToHex(blake2AsU8a(hexToU8a(secret), 256));
}

export function opensCommitment(secret: Hash, commitment: Hash): boolean {
  return u8aEq(blake2AsU8a(hexToU8a(secret), 256), hexToU8a(commitment));
}

/** u32_le(blake2_256(secret ‖ seed ‖ task_id_le ‖ audit_index_le)[0..4]) mod 10^6 < ppm. */
export function isForcedError(
  secret: Hash,
  seed: Hash,
  taskId: bigint,
  auditIndex: number,
  ppm: number,
): boolean {
  const digest = blake2AsU8a(
    u8aConcat(hexToU8a(secret), hexToU8a(seed), u64Le(taskId), u32Le(auditIndex)),
    256,
  );
  const draw = new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0, true);
  return draw % 1_000_000 < ppm;
}

// The operator bisection's cumulative hashes are shared with the dispute players and the referee.
export { cumulativeNext, cumulativeStart } from "../../../protocol/pinpoint.ts";
