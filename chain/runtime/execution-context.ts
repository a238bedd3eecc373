// The DispatchContext handed to calls and hooks: an overlay of the block's state, the events the
// overlay produced, and the block's environment.
import { u8aConcat, u8aToU8a } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import { Overlay } from "./overlay.ts";
import type {
  Currency,
  DispatchContext,
  DispatchOutcome,
  NativeRecord,
  NativeValue,
  Origin,
} from "./pallet.ts";
import { DispatchError } from "./pallet.ts";
import { currencyFor } from "./pallets/balances.ts";
import { CallDecodeError, hexBytes, type Runtime } from "./runtime.ts";

/** What every context of one block shares. */
export type BlockEnvironment = {
  readonly blockNumber: number;
  readonly now: bigint;
  readonly parentHash: string;
  blockHash(blockNumber: number): string | undefined;
};

/** An event with the frame_system::Phase it happened in; `event` is the encoded RuntimeEvent. */
export type EventRecord = { readonly phase: NativeValue; readonly event: Uint8Array };

export class ExecutionContext implements DispatchContext {
  readonly events: EventRecord[] = [];
  #currency: Currency | undefined;

  constructor(
    readonly runtime: Runtime,
    readonly environment: BlockEnvironment,
    readonly state: Overlay,
    /** frame_system::Phase of the events deposited here. */
    readonly phase: NativeValue,
  ) {}

  get blockNumber(): number {
    return this.environment.blockNumber;
  }

  get now(): bigint {
    return this.environment.now;
  }

  get parentHash(): string {
    return this.environment.parentHash;
  }

  get codec() {
    return this.runtime.codec;
  }

  get currency(): Currency {
    this.#currency ??= currencyFor(this);
    return this.#currency;
  }

  depositEvent(pallet: string, event: string, fields: NativeRecord): void {
    this.events.push({ phase: this.phase, event: this.runtime.encodeEvent(pallet, event, fields) });
  }

  randomness(subject: string | Uint8Array, atBlock?: number): string {
    const source = atBlock ?? this.blockNumber - 1;
    const hash = this.blockHash(source);
    if (hash === undefined) throw new DispatchError("Other", null, `no hash known for block ${source}`);
    return blake2AsHex(u8aConcat(u8aToU8a(subject), hexBytes(hash)), 256);
  }

  blockHash(blockNumber: number): string | undefined {
    return this.environment.blockHash(blockNumber);
  }

  /** A context over a fresh overlay of this one, for a call whose effects may be dropped. */
  child(): ExecutionContext {
    return new ExecutionContext(this.runtime, this.environment, new Overlay(this.state), this.phase);
  }

  /** Keeps a child's writes and events. */
  absorb(child: ExecutionContext): void {
    child.state.commitInto(this.state);
    this.events.push(...child.events);
  }

  dispatch(origin: Origin, call: string): DispatchOutcome {
    const child = this.child();
    let outcome: DispatchOutcome;
    try {
      outcome = this.runtime.dispatch(child, origin, this.runtime.decodeCall(hexBytes(call)));
    } catch (error) {
      if (!(error instanceof CallDecodeError)) throw error;
      const failure = new DispatchError("Other", null, error.message);
      const errorValue = this.runtime.dispatchErrorValue(failure);
      outcome = { ok: false, error: failure, errorValue, result: { Err: errorValue } };
    }
    if (outcome.ok) this.absorb(child);
    return outcome;
  }
}
