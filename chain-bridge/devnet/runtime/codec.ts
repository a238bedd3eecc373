// SCALE encoding of the pallets' plain JavaScript values through the metadata's own type registry,
// so what the runtime writes is exactly what @polkadot/api decodes.
import {
  Bool,
  Compact,
  Enum,
  GenericAccountId,
  GenericCall,
  Int,
  Null,
  Option,
  Raw,
  Struct,
  Text,
  Tuple,
  type TypeRegistry,
  UInt,
  Vec,
  VecFixed,
} from "@polkadot/types";
import type { Codec } from "@polkadot/types/types";
import type { PortableTypeBuilder } from "./metadata/portable-types.ts";
import type { NativeValue, ScaleType, ValueCodec } from "./pallet.ts";

export class CodecError extends Error {
  readonly code = "CodecError";
}

/** A decoded @polkadot/types value in the NativeValue shape described in pallet.ts. */
export function toNative(codec: Codec): NativeValue {
  if (codec instanceof GenericAccountId) return codec.toString();
  if (codec instanceof GenericCall) return codec.toHex();
  if (codec instanceof Raw) return codec.toHex();
  if (codec instanceof Int || codec instanceof UInt) {
    return codec.bitLength() <= 32 ? codec.toNumber() : codec.toBigInt();
  }
  if (codec instanceof Compact) return toNative(codec.unwrap());
  if (codec instanceof Bool) return codec.isTrue;
  if (codec instanceof Text) return codec.toString();
  if (codec instanceof Null) return null;
  if (codec instanceof Option) return codec.isSome ? toNative(codec.unwrap()) : null;
  if (codec instanceof Struct) {
    const fields: Record<string, NativeValue> = {};
    for (const [name, value] of codec.entries()) fields[String(name)] = toNative(value);
    return fields;
  }
  if (codec instanceof Enum) {
    return codec.value instanceof Null ? codec.type : { [codec.type]: toNative(codec.value) };
  }
  if (codec instanceof Vec || codec instanceof VecFixed || codec instanceof Tuple) {
    return [...(codec as unknown as Iterable<Codec>)].map(toNative);
  }
  throw new CodecError(`cannot convert a ${codec.toRawType()} to a plain value`);
}

/** The ValueCodec of the runtime, resolving type strings to the lookup ids metadata gave them. */
export class RuntimeCodec implements ValueCodec {
  readonly #typeNames = new Map<string, string>();

  constructor(
    readonly registry: TypeRegistry,
    readonly types: PortableTypeBuilder,
  ) {}

  /** The registry's name for a type string of a pallet ("Lookup12"). */
  typeName(pallet: string, type: ScaleType): string {
    const key = `${pallet}|${type}`;
    let name = this.#typeNames.get(key);
    if (name === undefined) {
      const id = this.types.lookup(type, pallet) ?? this.types.lookup(type, "");
      if (id === undefined) {
        throw new CodecError(
          `type "${type}" of pallet ${pallet} is not in the metadata: declare it in the pallet`,
        );
      }
      name = this.registry.createLookupType(id);
      this.#typeNames.set(key, name);
    }
    return name;
  }

  encode(pallet: string, type: ScaleType, value: NativeValue): Uint8Array {
    try {
      return this.registry.createTypeUnsafe(this.typeName(pallet, type), [value]).toU8a();
    } catch (error) {
      if (error instanceof CodecError) throw error;
      throw new CodecError(
        `cannot encode ${describe(value)} as ${pallet} type "${type}": ${(error as Error).message}`,
      );
    }
  }

  decode(pallet: string, type: ScaleType, bytes: Uint8Array): { value: NativeValue; length: number } {
    const codec = this.decodeCodec(pallet, type, bytes);
    return { value: toNative(codec), length: codec.encodedLength };
  }

  decodeCodec(pallet: string, type: ScaleType, bytes: Uint8Array): Codec {
    try {
      return this.registry.createTypeUnsafe(this.typeName(pallet, type), [bytes]);
    } catch (error) {
      if (error instanceof CodecError) throw error;
      throw new CodecError(`cannot decode ${pallet} type "${type}": ${(error as Error).message}`);
    }
  }
}

function describe(value: NativeValue): string {
  const text = JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
