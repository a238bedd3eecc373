// Builds one block on top of a parent state: hooks, the timestamp inherent, the extrinsics that
// fit and are still valid, then System.Events (frame_executive's role).
import { compactAddLength, compactFromU8a, compactToU8a, u8aConcat } from "@polkadot/util";
import { type BlockEnvironment, type EventRecord, ExecutionContext } from "./execution-context.ts";
import { Overlay, type StateView } from "./overlay.ts";
import type { NativeValue } from "./pallet.ts";
import { eventCount, events, MAX_NORMAL_LENGTH, MAX_NORMAL_WEIGHT } from "./pallets/system.ts";
import { timestampPallet } from "./pallets/timestamp.ts";
import type { Runtime } from "./runtime.ts";
import { eraBirth, SIGNED_EXTENSIONS } from "./signed-extensions.ts";
import type { CheckedTransaction } from "./transaction-check.ts";
import { InvalidTransaction } from "./transaction-validity.ts";

const EXTRINSIC_VERSION_UNSIGNED = 0x04;
/** EventRecord.topics: this runtime deposits no topics (an empty Vec<H256>). */
const NO_TOPICS = new Uint8Array([0]);

export type ApplyOutcome =
  /** `index`: the extrinsic's place in the block; `result`: its DispatchResult. */
  | { readonly included: true; readonly index: number; readonly result: NativeValue }
  | { readonly included: false; readonly reason: InvalidTransaction };

/** The unsigned extrinsic `Timestamp.set(now)` that opens every block (the timestamp inherent). */
export function timestampInherent(now: bigint): Uint8Array {
  const call = u8aConcat(new Uint8Array([timestampPallet.index, 0]), compactToU8a(now));
  return compactAddLength(u8aConcat(new Uint8Array([EXTRINSIC_VERSION_UNSIGNED]), call));
}

export class MandatoryExtrinsicError extends Error {
  readonly code = "BadMandatory";
}

export class BlockBuilder {
  readonly overlay: Overlay;
  readonly extrinsics: Uint8Array[] = [];
  readonly #events: EventRecord[] = [];
  #normalWeight = 0n;
  #normalLength = 0;

  constructor(
    readonly runtime: Runtime,
    parentState: StateView,
    readonly environment: BlockEnvironment,
  ) {
    this.overlay = new Overlay(parentState);
  }

  #context(phase: NativeValue): ExecutionContext {
    return new ExecutionContext(this.runtime, this.environment, new Overlay(this.overlay), phase);
  }

  #keep(ctx: ExecutionContext): void {
    ctx.state.commitInto(this.overlay);
    this.#events.push(...ctx.events);
  }

  /** on_initialize of every pallet, then the timestamp inherent as extrinsic 0. */
  initialize(): void {
    const ctx = this.#context("Initialization");
    for (const pallet of this.runtime.pallets) pallet.onInitialize?.(ctx);
    this.#keep(ctx);
    this.#applyInherent(timestampInherent(this.environment.now));
  }

  #applyInherent(extrinsic: Uint8Array): void {
    const ctx = this.#context({ ApplyExtrinsic: this.extrinsics.length });
    const [prefix] = compactFromU8a(extrinsic);
    const call = extrinsic.subarray(prefix + 1);
    const decoded = this.runtime.decodeCall(call);
    const callCtx = ctx.child();
    const outcome = this.runtime.dispatch(callCtx, { kind: "none" }, decoded);
    if (!outcome.ok) {
      throw new MandatoryExtrinsicError(
        `inherent ${decoded.pallet.name}.${decoded.name} failed: ${outcome.error.message}`,
      );
    }
    ctx.absorb(callCtx);
    const weight = this.runtime.weigh(call);
    ctx.depositEvent("System", "ExtrinsicSuccess", { dispatchInfo: dispatchInfo(weight, "Mandatory") });
    this.#keep(ctx);
    this.extrinsics.push(extrinsic);
  }

  /** Whether another extrinsic of this weight and length fits the block. */
  fits(transaction: CheckedTransaction): boolean {
    return (
      this.#normalWeight + transaction.weight <= MAX_NORMAL_WEIGHT &&
      this.#normalLength + transaction.length <= MAX_NORMAL_LENGTH
    );
  }

  /**
   * Applies a signed extrinsic: the extensions' effects (nonce, fee) stay even when the call fails;
   * an extension that refuses it leaves the block untouched and the extrinsic out.
   */
  apply(transaction: CheckedTransaction): ApplyOutcome {
    // A mortal transaction that outlived its era now names another birth block than it signed.
    if (eraBirth(transaction.era, this.environment.blockNumber) !== transaction.birth) {
      return { included: false, reason: new InvalidTransaction("BadProof") };
    }
    const ctx = this.#context({ ApplyExtrinsic: this.extrinsics.length });
    try {
      for (const extension of SIGNED_EXTENSIONS) extension.prepare?.(ctx, transaction);
    } catch (error) {
      if (error instanceof InvalidTransaction) return { included: false, reason: error };
      throw error;
    }
    const callCtx = ctx.child();
    const outcome = this.runtime.dispatch(
      callCtx,
      { kind: "signed", who: transaction.signer },
      transaction.decodedCall,
    );
    if (outcome.ok) ctx.absorb(callCtx);
    for (const extension of SIGNED_EXTENSIONS) extension.finish?.(ctx, transaction);
    const info = dispatchInfo(transaction.weight, "Normal");
    if (outcome.ok) ctx.depositEvent("System", "ExtrinsicSuccess", { dispatchInfo: info });
    else
      ctx.depositEvent("System", "ExtrinsicFailed", {
        dispatchError: outcome.errorValue,
        dispatchInfo: info,
      });
    this.#keep(ctx);
    const index = this.extrinsics.push(transaction.bytes) - 1;
    this.#normalWeight += transaction.weight;
    this.#normalLength += transaction.length;
    return { included: true, index, result: outcome.result };
  }

  /** on_finalize of every pallet, then this block's events into System.Events. */
  finalize(): Overlay {
    const ctx = this.#context("Finalization");
    for (const pallet of this.runtime.pallets) pallet.onFinalize?.(ctx);
    this.#keep(ctx);
    const writer = this.#context("Finalization");
    const codec = this.runtime.codec;
    const records = this.#events.map((record) =>
      u8aConcat(codec.encode("System", "Phase", record.phase), record.event, NO_TOPICS),
    );
    writer.state.set(events.prefix, u8aConcat(compactToU8a(records.length), ...records));
    eventCount.set(writer, records.length);
    this.#keep(writer);
    return this.overlay;
  }
}

function dispatchInfo(weight: bigint, dispatchClass: "Normal" | "Mandatory"): NativeValue {
  return { weight: { refTime: weight, proofSize: 0n }, class: dispatchClass, paysFee: "Yes" };
}
