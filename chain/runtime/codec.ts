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
import { compactToU8a, hexToU8a, stringCamelCase, u8aConcat, u8aToHex } from "@polkadot/util";
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

/** Distinct scalar values (accounts, hashes, ids) whose encodings by @polkadot/types are remembered. */
const ENCODE_CACHE_LIMIT = 50_000;

type Encoded = { readonly bytes: Uint8Array; readonly native: NativeValue };

/**
 * How a type is encoded without @polkadot/types: the unsigned integers, bools, byte arrays and
 * hashes, options, vectors, structs and enums that pallets store and emit (their own `types`).
 * Everything else, accounts included, is `other` and goes through @polkadot/types.
 */
type Shape =
  | { readonly kind: "unsigned" | "compact"; readonly bits: number }
  /** [u8; N] and H256 (fixed length), Vec<u8> (length prefixed): `0x` hex in and out. */
  | { readonly kind: "bytes"; readonly length: number | null }
  | { readonly kind: "bool" | "other" }
  | { readonly kind: "option"; readonly inner: number }
  | { readonly kind: "sequence"; readonly element: number }
  | { readonly kind: "struct"; readonly fields: readonly (readonly [string, number])[] }
  | {
      readonly kind: "enum";
      readonly variants: ReadonlyMap<string, { readonly index: number; readonly payload: number | null }>;
    };

const UNSIGNED_BITS: Readonly<Record<string, number>> = { U8: 8, U16: 16, U32: 32, U64: 64, U128: 128 };

function unsigned(value: NativeValue, bits: number): bigint | undefined {
  const integer =
    typeof value === "bigint"
      ? value
      : typeof value === "number" && Number.isSafeInteger(value)
        ? BigInt(value)
        : undefined;
  return integer !== undefined && integer >= 0n && integer < 1n << BigInt(bits) ? integer : undefined;
}

function littleEndian(value: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let rest = value;
  for (let i = 0; i < bytes && rest > 0n; i++) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

/** Integers up to 32 bits are numbers, wider ones bigints (the NativeValue convention). */
const nativeInteger = (value: bigint, bits: number): NativeValue => (bits <= 32 ? Number(value) : value);

const HEX = /^0x(?:[0-9a-fA-F]{2})*$/;

const isRecord = (value: NativeValue): value is { readonly [field: string]: NativeValue } =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The ValueCodec of the runtime, resolving type strings to the lookup ids metadata gave them.
 * @polkadot/types is slow next to a signature check, so the runtime's own structs, enums, options,
 * vectors and integers are encoded here (byte for byte what @polkadot/types gives; codec.test.ts
 * compares the two on every stored and emitted type), the rest through @polkadot/types with its
 * encodings remembered per scalar value (an SS58 address costs a base58 decode and a checksum
 * hash). Decoded values are remembered per stored byte array (state values are never mutated in
 * place), and a written struct counts as decoded: its next read (a task, an account) costs nothing.
 */
export class RuntimeCodec implements ValueCodec {
  readonly #ids = new Map<string, number>();
  readonly #names = new Map<number, string>();
  readonly #shapes = new Map<number, Shape>();
  readonly #decoded = new WeakMap<Uint8Array, { type: string; value: NativeValue; length: number }>();
  readonly #scalars = new Map<string, Encoded>();

  constructor(
    readonly registry: TypeRegistry,
    readonly types: PortableTypeBuilder,
  ) {}

  /** The metadata's lookup id of a type string of a pallet. */
  typeId(pallet: string, type: ScaleType): number {
    const key = `${pallet}|${type}`;
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.types.lookup(type, pallet) ?? this.types.lookup(type, "");
      if (id === undefined) {
        throw new CodecError(
          `type "${type}" of pallet ${pallet} is not in the metadata: declare it in the pallet`,
        );
      }
      this.#ids.set(key, id);
    }
    return id;
  }

  /** The registry's name for a type string of a pallet ("Lookup12"). */
  typeName(pallet: string, type: ScaleType): string {
    return this.#name(this.typeId(pallet, type));
  }

  encode(pallet: string, type: ScaleType, value: NativeValue): Uint8Array {
    const id = this.typeId(pallet, type);
    try {
      const { bytes, native } = this.#encode(id, value);
      if (typeof value === "object" && value !== null) {
        this.#decoded.set(bytes, { type: this.#name(id), value: native, length: bytes.length });
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

  #name(id: number): string {
    let name = this.#names.get(id);
    if (name === undefined) {
      name = this.registry.createLookupType(id);
      this.#names.set(id, name);
    }
    return name;
  }

  /** A value this codec cannot take as it is (a string for a u64, a missing field) goes to @polkadot/types. */
  #encode(id: number, value: NativeValue): Encoded {
    const shape = this.#shape(id);
    switch (shape.kind) {
      case "unsigned":
      case "compact": {
        const integer = unsigned(value, shape.bits);
        if (integer === undefined) break;
        const bytes =
          shape.kind === "compact" ? compactToU8a(integer) : littleEndian(integer, shape.bits / 8);
        return { bytes, native: nativeInteger(integer, shape.bits) };
      }
      case "bool":
        if (typeof value === "boolean") return { bytes: Uint8Array.of(value ? 1 : 0), native: value };
        break;
      case "bytes": {
        if (typeof value !== "string" || !HEX.test(value)) break;
        const bytes = hexToU8a(value);
        if (shape.length === null)
          return { bytes: u8aConcat(compactToU8a(bytes.length), bytes), native: u8aToHex(bytes) };
        if (bytes.length === shape.length) return { bytes, native: u8aToHex(bytes) };
        break;
      }
      case "option": {
        if (value === null) return { bytes: Uint8Array.of(0), native: null };
        const inner = this.#encode(shape.inner, value);
        return { bytes: u8aConcat(Uint8Array.of(1), inner.bytes), native: inner.native };
      }
      case "sequence": {
        if (!Array.isArray(value)) break;
        const items = (value as readonly NativeValue[]).map((item) => this.#encode(shape.element, item));
        return {
          bytes: u8aConcat(compactToU8a(items.length), ...items.map((item) => item.bytes)),
          native: items.map((item) => item.native),
        };
      }
      case "struct": {
        const struct = this.#struct(shape.fields, value);
        if (struct !== undefined) return struct;
        break;
      }
      case "enum": {
        const [name, payload] =
          typeof value === "string"
            ? [value, null]
            : isRecord(value) && Object.keys(value).length === 1
              ? Object.entries(value)[0]!
              : [undefined, null];
        const variant = name === undefined ? undefined : shape.variants.get(name);
        if (variant === undefined || name === undefined) break;
        const index = Uint8Array.of(variant.index);
        if (variant.payload === null) {
          if (payload === null) return { bytes: index, native: name };
          break;
        }
        if (typeof value === "string") break;
        const inner = this.#encode(variant.payload, payload);
        return { bytes: u8aConcat(index, inner.bytes), native: { [name]: inner.native } };
      }
      case "other":
        break;
    }
    return this.#polkadot(id, value);
  }

  #struct(fields: readonly (readonly [string, number])[], value: NativeValue): Encoded | undefined {
    if (!isRecord(value) || !fields.every(([name]) => value[name] !== undefined)) return undefined;
    const native: Record<string, NativeValue> = {};
    const parts = fields.map(([name, id]) => {
      const field = this.#encode(id, value[name]!);
      native[name] = field.native;
      return field.bytes;
    });
    return { bytes: u8aConcat(...parts), native };
  }

  #polkadot(id: number, value: NativeValue): Encoded {
    const scalar = typeof value === "string" || typeof value === "number" || typeof value === "bigint";
    const key = scalar ? `${id}|${typeof value}|${value}` : undefined;
    const cached = key === undefined ? undefined : this.#scalars.get(key);
    if (cached !== undefined) return cached;
    const codec = this.registry.createTypeUnsafe(this.#name(id), [value]);
    const encoded = { bytes: codec.toU8a(), native: toNative(codec) };
    if (key !== undefined) {
      if (this.#scalars.size >= ENCODE_CACHE_LIMIT) this.#scalars.clear();
      this.#scalars.set(key, encoded);
    }
    return encoded;
  }

  #shape(id: number): Shape {
    let shape = this.#shapes.get(id);
    if (shape === undefined) {
      shape = this.#shapeOf(id);
      this.#shapes.set(id, shape);
    }
    return shape;
  }

  #shapeOf(id: number): Shape {
    const entry = this.types.types[id];
    if (entry === undefined) return { kind: "other" };
    const { path, def } = entry.type;
    const primitive = (of: number) => {
      const inner = this.types.types[of]?.type.def;
      return inner !== undefined && "Primitive" in inner ? inner.Primitive : undefined;
    };
    if ("Primitive" in def) {
      const bits = UNSIGNED_BITS[def.Primitive];
      if (bits !== undefined) return { kind: "unsigned", bits };
      return { kind: def.Primitive === "Bool" ? "bool" : "other" };
    }
    if ("Compact" in def) {
      const bits = UNSIGNED_BITS[primitive(def.Compact.type) ?? ""];
      return bits === undefined ? { kind: "other" } : { kind: "compact", bits };
    }
    if ("Sequence" in def) {
      if (primitive(def.Sequence.type) === "U8") return { kind: "bytes", length: null };
      return { kind: "sequence", element: def.Sequence.type };
    }
    if ("Array" in def && primitive(def.Array.type) === "U8") return { kind: "bytes", length: def.Array.len };
    if (path.join("::") === "primitive_types::H256") return { kind: "bytes", length: 32 };
    if ("Variant" in def && path.length === 1 && path[0] === "Option") {
      const inner = def.Variant.variants.find((variant) => variant.name === "Some")?.fields[0]?.type;
      // Option<bool> has its own one-byte encoding (OptionBool): @polkadot/types'.
      if (inner !== undefined && primitive(inner) !== "Bool") return { kind: "option", inner };
      return { kind: "other" };
    }
    // Only the pallets' own types (`<crate>::types::<Name>`): shared ones may be special classes.
    if (path[1] !== "types") return { kind: "other" };
    if ("Composite" in def && def.Composite.fields.every((field) => field.name !== null)) {
      return {
        kind: "struct",
        fields: def.Composite.fields.map((field) => [stringCamelCase(field.name!), field.type] as const),
      };
    }
    const unnamedPayloads = (variant: { fields: readonly { name: string | null }[] }) =>
      variant.fields.length === 0 || (variant.fields.length === 1 && variant.fields[0]!.name === null);
    if ("Variant" in def && def.Variant.variants.every(unnamedPayloads)) {
      return {
        kind: "enum",
        variants: new Map(
          def.Variant.variants.map((variant) => [
            variant.name,
            { index: variant.index, payload: variant.fields[0]?.type ?? null },
          ]),
        ),
      };
    }
    return { kind: "other" };
  }
}

function describe(value: NativeValue): string {
  const text = JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
