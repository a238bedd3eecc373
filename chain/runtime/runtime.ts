// The runtime: pallets put together (construct_runtime!), their metadata and codec, call decoding,
// weighing and dispatch, and the event and error values that go into System.Events.
import type { GenericCall } from "@polkadot/types";
import type { AnyTuple, CallBase } from "@polkadot/types/types";
import { u8aConcat, u8aToHex } from "@polkadot/util";
import { RuntimeCodec, toNative } from "./codec.ts";
import {
  type BuiltMetadata,
  buildMetadata,
  type ChainProperties,
  type RuntimeApiMetadata,
} from "./metadata/build-metadata.ts";
import {
  type CallDefinition,
  type DispatchContext,
  DispatchError,
  type DispatchOutcome,
  type NativeRecord,
  type NativeValue,
  type Origin,
  type PalletDefinition,
} from "./pallet.ts";
import { SIGNED_EXTENSIONS } from "./signed-extensions.ts";

export class RuntimeDefinitionError extends Error {
  readonly code = "InvalidRuntimeDefinition";
}

export class CallDecodeError extends Error {
  readonly code = "BadCallEncoding";
}

export type DecodedCall = {
  readonly pallet: PalletDefinition;
  readonly name: string;
  readonly definition: CallDefinition;
  readonly args: NativeRecord;
};

type PalletIndexes = {
  readonly pallet: PalletDefinition;
  readonly calls: ReadonlyArray<readonly [string, CallDefinition]>;
  readonly errors: ReadonlyMap<string, number>;
  readonly eventIndex: ReadonlyMap<string, number>;
};

export class Runtime {
  readonly metadata: BuiltMetadata;
  readonly codec: RuntimeCodec;
  readonly #byIndex = new Map<number, PalletIndexes>();
  readonly #byName = new Map<string, PalletIndexes>();

  constructor(
    readonly pallets: readonly PalletDefinition[],
    apis: readonly RuntimeApiMetadata[],
    readonly properties: ChainProperties,
  ) {
    for (const pallet of pallets) {
      if (this.#byIndex.has(pallet.index) || this.#byName.has(pallet.name)) {
        throw new RuntimeDefinitionError(`pallet ${pallet.name} (index ${pallet.index}) is declared twice`);
      }
      const indexes: PalletIndexes = {
        pallet,
        calls: Object.entries(pallet.calls ?? {}),
        errors: new Map(Object.keys(pallet.errors ?? {}).map((name, index) => [name, index])),
        eventIndex: new Map(Object.keys(pallet.events ?? {}).map((name, index) => [name, index])),
      };
      this.#byIndex.set(pallet.index, indexes);
      this.#byName.set(pallet.name, indexes);
    }
    this.metadata = buildMetadata(pallets, SIGNED_EXTENSIONS, apis, properties);
    this.codec = new RuntimeCodec(this.metadata.registry, this.metadata.types);
  }

  get registry() {
    return this.metadata.registry;
  }

  /** Decodes a RuntimeCall (pallet index, call index, arguments) into the pallet's handler input. */
  decodeCall(bytes: Uint8Array): DecodedCall & { readonly length: number } {
    this.#entry(bytes[0] ?? -1, bytes[1] ?? -1);
    let call: GenericCall;
    try {
      call = this.registry.createType("Call", bytes);
    } catch (error) {
      throw new CallDecodeError(`call ${bytes[0]}/${bytes[1]}: ${(error as Error).message}`);
    }
    return { ...this.fromCodec(call), length: call.encodedLength };
  }

  /** The handler input of a call @polkadot/types already decoded (inside an extrinsic). */
  fromCodec(call: CallBase<AnyTuple>): DecodedCall {
    const [palletIndex, callIndex] = call.callIndex;
    const { pallet, name, definition } = this.#entry(palletIndex ?? -1, callIndex ?? -1);
    const argNames = Object.keys(definition.args);
    const args: Record<string, NativeValue> = {};
    call.args.forEach((value, index) => {
      args[argNames[index]!] = toNative(value);
    });
    return { pallet, name, definition, args };
  }

  #entry(palletIndex: number, callIndex: number) {
    const pallet = this.#byIndex.get(palletIndex);
    const entry = pallet?.calls[callIndex];
    if (pallet === undefined || entry === undefined) {
      throw new CallDecodeError(`no call with index ${palletIndex}/${callIndex} in this runtime`);
    }
    return { pallet: pallet.pallet, name: entry[0], definition: entry[1] };
  }

  /** ref_time weight of an encoded call, including the calls it carries. */
  weigh(call: Uint8Array | string): bigint {
    return this.weighDecoded(this.decodeCall(typeof call === "string" ? hexBytes(call) : call));
  }

  weighDecoded(call: DecodedCall): bigint {
    return call.definition.weight(call.args, (inner) => this.weigh(inner));
  }

  /**
   * Runs a decoded call's handler in `ctx` (whose overlay the caller keeps or drops). Errors that
   * are not DispatchErrors are runtime bugs; they fail the call as DispatchError::Other.
   */
  dispatch(ctx: DispatchContext, origin: Origin, call: DecodedCall): DispatchOutcome {
    try {
      call.definition.handler(ctx, origin, call.args);
      return { ok: true, result: { Ok: [] } };
    } catch (error) {
      const failure =
        error instanceof DispatchError
          ? error
          : new DispatchError("Other", null, `${call.pallet.name}.${call.name}: ${(error as Error).message}`);
      const errorValue = this.dispatchErrorValue(failure);
      return { ok: false, error: failure, errorValue, result: { Err: errorValue } };
    }
  }

  /** The sp_runtime::DispatchError value of an error, with module errors indexed from metadata. */
  dispatchErrorValue(error: DispatchError): NativeValue {
    if (error.code === "Module") {
      const pallet = this.#byName.get(error.pallet ?? "");
      const index = pallet?.errors.get(error.error ?? "");
      if (pallet === undefined || index === undefined) {
        throw new RuntimeDefinitionError(
          `module error ${error.detail} is not declared in its pallet's errors`,
        );
      }
      return { Module: { index: pallet.pallet.index, error: u8aToHex(new Uint8Array([index, 0, 0, 0])) } };
    }
    if (error.code === "Token" || error.code === "Arithmetic") return { [error.code]: error.detail };
    return error.code;
  }

  /**
   * The SCALE bytes of a RuntimeEvent: pallet index, event index, then the fields in declared
   * order (@polkadot/types cannot build a RuntimeEvent from a plain value, so it is assembled here).
   */
  encodeEvent(pallet: string, event: string, fields: NativeRecord): Uint8Array {
    const indexes = this.#byName.get(pallet);
    const declared = indexes?.pallet.events?.[event];
    if (indexes === undefined || declared === undefined) {
      throw new RuntimeDefinitionError(`event ${pallet}.${event} is not declared`);
    }
    const names = Object.keys(declared);
    const given = Object.keys(fields);
    if (given.length !== names.length || names.some((name) => !Object.hasOwn(fields, name))) {
      throw new RuntimeDefinitionError(
        `event ${pallet}.${event} takes fields (${names.join(", ")}), got (${given.join(", ")})`,
      );
    }
    const eventIndex = indexes.eventIndex.get(event)!;
    return u8aConcat(
      new Uint8Array([indexes.pallet.index, eventIndex]),
      ...names.map((name) => this.codec.encode(pallet, declared[name]!, fields[name]!)),
    );
  }
}

export function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.startsWith("0x") ? hex.slice(2) : hex, "hex"));
}
