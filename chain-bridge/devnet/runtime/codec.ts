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

/** A copy of a decoded value, so a handler that changes what it read cannot change the cache. */
function copy(value: NativeValue): NativeValue {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copy);
  const fields: Record<string, NativeValue> = {};
  for (const [name, field] of Object.entries(value)) fields[name] = copy(field as NativeValue);
  return fields;
}

/** Distinct scalar values (accounts, ids, amounts) whose encodings are remembered. */
const ENCODE_CACHE_LIMIT = 50_000;

/**
 * The ValueCodec of the runtime, resolving type strings to the lookup ids metadata gave them.
 * @polkadot/types is slow next to a signature check, so decoded values are remembered per stored
 * byte array (state values are never mutated in place) and encodings per scalar value (an SS58
 * address costs a base58 decode and a checksum hash to encode).
 */
export class RuntimeCodec implements ValueCodec {
  readonly #typeNames = new Map<string, string>();
  readonly #decoded = new WeakMap<Uint8Array, { type: string; value: NativeValue; length: number }>();
  readonly #encoded = new Map<string, Uint8Array>();

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
    const typeName = this.typeName(pallet, type);
    const scalar = typeof value === "string" || typeof value === "number" || typeof value === "bigint";
    const cacheKey = scalar ? `${typeName}|${typeof value}|${value}` : undefined;
    const cached = cacheKey === undefined ? undefined : this.#encoded.get(cacheKey);
    if (cached !== undefined) return cached;
    try {
      const bytes = this.registry.createTypeUnsafe(typeName, [value]).toU8a();
      if (cacheKey !== undefined) {
        if (this.#encoded.size >= ENCODE_CACHE_LIMIT) this.#encoded.clear();
        this.#encoded.set(cacheKey, bytes);
      }
      return bytes;
    } catch (error) {
      if (error instanceof CodecError) throw error;
      throw new CodecError(
        `cannot encode ${describe(value)} as ${pallet} type "${type}": ${(error as Error).message}`,
      );
    }
  }

  decode(pallet: string, type: ScaleType, bytes: Uint8Array): { value: NativeValue; length: number } {
    const typeName = this.typeName(pallet, type);
    const cached = this.#decoded.get(bytes);
    if (cached?.type === typeName) return { value: copy(cached.value), length: cached.length };
    const codec = this.decodeCodec(pallet, type, bytes);
    const decoded = { type: typeName, value: toNative(codec), length: codec.encodedLength };
    this.#decoded.set(bytes, decoded);
    return { value: copy(decoded.value), length: decoded.length };
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
