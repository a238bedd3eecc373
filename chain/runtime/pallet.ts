/**
 * The declarative pallet format of the dev chain's runtime.
 *
 * A pallet is one `definePallet({...})` value, written the way a FRAME pallet reads in Rust:
 *
 *   - `name` (PascalCase, e.g. "Balances") and `index` (its byte in calls, events and module errors);
 *     optional `crate`, the Rust crate name its metadata type paths use.
 *   - `types`: named struct/enum types local to the pallet, usable by name in every type string of the
 *     pallet. In metadata they get the path `<crate>::types::<TypeName>` (so @polkadot/api calls them
 *     e.g. `PalletComputeTaskInfo`). `PalletCall`, `PalletEvent` and `PalletError` are reserved.
 *   - `calls`: camelCase name → `defineCall({ args, weight(args, weigh), handler })`. The object
 *     order is the call index order (like `#[pallet::call_index]` counting from 0). Argument names are camelCase; metadata carries
 *     them in snake_case, exactly like Rust, and @polkadot/api shows them camelCase again.
 *     `handler(ctx, origin, args)` returns nothing and fails by throwing a `DispatchError`
 *     (usually `moduleError("Pallet", "ErrorName")`). Each call runs in its own storage overlay:
 *     a call that throws leaves no change behind except the fee (Substrate's `#[transactional]`).
 *   - `storage`: PascalCase name → a storage item made by `storageValue`, `storageMap` or
 *     `storageDoubleMap`. Keys are real Substrate keys: twox128(pallet) ++ twox128(item) ++ hashed
 *     keys, with the hashers `Blake2_128Concat`, `Twox64Concat` or `Identity`. An item with a
 *     `default` is a ValueQuery (`get` never returns undefined), otherwise an OptionQuery.
 *   - `events`: PascalCase name → ordered fields (camelCase name → type); order = event index.
 *   - `errors`: PascalCase name → documentation; order = error index (DispatchError::Module).
 *   - `constants`: PascalCase name → `{ type, value }`, served in metadata (`api.consts.*`).
 *   - `onInitialize` / `onFinalize`: optional hooks run at the start and end of every block.
 *
 * Types are SCALE type strings understood by @polkadot/types: "u8".."u128", "i8".."i128", "bool",
 * "Text", "Bytes" (= "Vec<u8>"), "H256", "AccountId32", "[u8; 32]", "Vec<T>", "Option<T>",
 * "Compact<T>", "(A, B)", "RuntimeCall" (an encoded call, see `ctx.dispatch`), the runtime's shared
 * types ("DispatchError", "DispatchInfo", "DispatchResult", "Weight") and the pallet's own named types.
 *
 * Values cross into handlers and storage as plain JavaScript (`NativeValue`), in the shape
 * @polkadot/api prints them: integers up to 32 bits as `number`, wider ones as `bigint`; `bool` as
 * `boolean`; AccountId32 as an SS58 string (prefix 42); byte arrays, H256 and `Bytes` as `0x` hex;
 * `Option` as value or `null`; structs as objects with camelCase fields; enums as the variant name
 * (unit variant) or `{ VariantName: payload }`; `RuntimeCall` as the `0x` hex of the encoded call.
 * Declare the TypeScript shapes of structs with `type` aliases (not interfaces) so they are
 * assignable to `NativeValue`.
 *
 * Other pallets are reached through the context: `ctx.currency` (Balances: transfer, reserve,
 * unreserve, slash, repatriate), `ctx.randomness(subject, atBlock?)`, `ctx.blockHash(n)`,
 * `ctx.dispatch(origin, call)` and `ctx.depositEvent(pallet, event, fields)` (all declared fields,
 * by their camelCase names). Origins are checked with `ensureSigned`, `ensureRoot`, `ensureNone`;
 * a `MultiAddress` argument becomes an account with `lookupAccount`. A handler that throws
 * anything but a DispatchError fails its call with DispatchError::Other (a runtime bug does not
 * stop the chain).
 */
import { type Hasher, hashStorageKeyPart, twox128Hex } from "./storage-key.ts";

export type ScaleType = string;

export type NativeValue =
  | number
  | bigint
  | boolean
  | string
  | null
  | readonly NativeValue[]
  | { readonly [field: string]: NativeValue };

export type NativeRecord = { readonly [field: string]: NativeValue };

/** An SS58 address (prefix 42) of an AccountId32. */
export type AccountId = string;

export type StructDefinition = { readonly struct: Readonly<Record<string, ScaleType>> };
/** Variant name → payload type, or null for a unit variant; the object order is the variant index. */
export type EnumDefinition = { readonly enum: Readonly<Record<string, ScaleType | null>> };
export type TypeDefinition = StructDefinition | EnumDefinition;

export type Origin =
  | { readonly kind: "root" }
  | { readonly kind: "signed"; readonly who: AccountId }
  | { readonly kind: "none" };

/** The variants of sp_runtime::DispatchError this runtime raises, by their Substrate names. */
export type DispatchErrorCode =
  | "Other"
  | "CannotLookup"
  | "BadOrigin"
  | "Module"
  | "ConsumerRemaining"
  | "NoProviders"
  | "TooManyConsumers"
  | "Token"
  | "Arithmetic";

/** Why a dispatched call failed; recorded in `System.ExtrinsicFailed` exactly like Substrate's. */
export class DispatchError extends Error {
  constructor(
    readonly code: DispatchErrorCode,
    /** Module: "Pallet.Error"; Token / Arithmetic: the inner variant name. */
    readonly detail: string | null,
    message: string,
  ) {
    super(message);
    this.name = "DispatchError";
  }

  /** For a module error: the pallet's name. */
  get pallet(): string | null {
    return this.code === "Module" ? (this.detail?.split(".")[0] ?? null) : null;
  }

  /** For a module error: the error's name. */
  get error(): string | null {
    return this.code === "Module" ? (this.detail?.split(".")[1] ?? null) : null;
  }
}

export function moduleError(pallet: string, error: string): DispatchError {
  return new DispatchError("Module", `${pallet}.${error}`, `${pallet}.${error}`);
}

export function badOrigin(): DispatchError {
  return new DispatchError("BadOrigin", null, "BadOrigin: the call needs a different origin");
}

export function ensureSigned(origin: Origin): AccountId {
  if (origin.kind !== "signed") throw badOrigin();
  return origin.who;
}

export function ensureRoot(origin: Origin): void {
  if (origin.kind !== "root") throw badOrigin();
}

export function ensureNone(origin: Origin): void {
  if (origin.kind !== "none") throw badOrigin();
}

/** The account of a `MultiAddress` argument (only the `Id` form names an account on this chain). */
export function lookupAccount(address: NativeValue): AccountId {
  if (typeof address === "object" && address !== null && "Id" in address && typeof address.Id === "string") {
    return address.Id;
  }
  throw new DispatchError("CannotLookup", null, "CannotLookup: only MultiAddress::Id is supported");
}

/** Raw key-value access to the state, through the overlay of the running call. Keys are `0x` hex. */
export interface StateAccess {
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): void;
  delete(key: string): void;
  /** Every key (sorted) that starts with the prefix, as seen through the overlays. */
  keysWithPrefix(prefix: string): string[];
}

/** SCALE encoding of NativeValues, resolving type names in the scope of one pallet. */
export interface ValueCodec {
  encode(pallet: string, type: ScaleType, value: NativeValue): Uint8Array;
  /** Decodes one value from the start of `bytes` and says how many bytes it used. */
  decode(pallet: string, type: ScaleType, bytes: Uint8Array): { value: NativeValue; length: number };
}

export type Existence = "keepAlive" | "allowDeath";

/** Balances as other pallets use it (Substrate's Currency + ReservableCurrency). Amounts in planck. */
export interface Currency {
  free(who: AccountId): bigint;
  reserved(who: AccountId): bigint;
  /** Moves free balance; fails with Balances.InsufficientBalance / Expendability / ExistentialDeposit. */
  transfer(from: AccountId, to: AccountId, amount: bigint, existence: Existence): void;
  /** Moves free → reserved; fails with Balances.InsufficientBalance. */
  reserve(who: AccountId, amount: bigint): void;
  /** Moves reserved → free, as much as is reserved; returns the part that was not reserved. */
  unreserve(who: AccountId, amount: bigint): bigint;
  /** Destroys up to `amount` of reserved balance (issuance drops); returns what was slashed. */
  slashReserved(who: AccountId, amount: bigint): bigint;
  /** Moves up to `amount` of `from`'s reserved balance to `to` (free or reserved); returns what moved. */
  repatriateReserved(from: AccountId, to: AccountId, amount: bigint, into: "free" | "reserved"): bigint;
}

/**
 * `result` is the outcome as a `DispatchResult` value and `errorValue` the error as a
 * `DispatchError` value, ready to put in events.
 */
export type DispatchOutcome =
  | { readonly ok: true; readonly result: NativeValue }
  | {
      readonly ok: false;
      readonly error: DispatchError;
      readonly errorValue: NativeValue;
      readonly result: NativeValue;
    };

/** What a call handler or hook can do. One context per extrinsic (or hook) and overlay. */
export interface DispatchContext {
  readonly blockNumber: number;
  /** Milliseconds since the Unix epoch of this block (Timestamp.Now). */
  readonly now: bigint;
  readonly parentHash: string;
  readonly state: StateAccess;
  readonly codec: ValueCodec;
  readonly currency: Currency;
  depositEvent(pallet: string, event: string, fields: NativeRecord): void;
  /**
   * blake2_256(subject ++ hash of block `atBlock`), defaulting to the parent block. On a dev chain
   * the sealing node knows it in advance: fine for development, which is all this chain is for.
   */
  randomness(subject: string | Uint8Array, atBlock?: number): string;
  /** The hash of a recent block (the last 4096) or of genesis, as `0x` hex. */
  blockHash(blockNumber: number): string | undefined;
  /** Dispatches an encoded RuntimeCall in a nested overlay (kept on success, dropped on failure). */
  dispatch(origin: Origin, call: string): DispatchOutcome;
}

export interface CallDefinition<A extends NativeRecord = NativeRecord> {
  readonly args: Readonly<Record<string, ScaleType>>;
  /**
   * ref_time weight in picoseconds, for fees and block fullness. `weigh` gives the weight of an
   * encoded RuntimeCall argument (for calls that dispatch other calls, like sudo and batch).
   */
  weight(args: A, weigh: (call: string) => bigint): bigint;
  readonly docs?: string;
  handler(ctx: DispatchContext, origin: Origin, args: A): void;
}

/** Types a call's handler arguments; `A` must match `args` (checked when the call is decoded). */
export function defineCall<A extends NativeRecord>(definition: CallDefinition<A>): CallDefinition<A> {
  return definition;
}

export type EventDefinition = Readonly<Record<string, ScaleType>>;

export interface ConstantDefinition {
  readonly type: ScaleType;
  readonly value: NativeValue;
  readonly docs?: string;
}

export interface PalletDefinition {
  readonly name: string;
  readonly index: number;
  /** The Rust crate the metadata paths name, default `pallet_<snake_case name>` (System: `frame_system`). */
  readonly crate?: string;
  readonly docs?: string;
  readonly types?: Readonly<Record<string, TypeDefinition>>;
  readonly calls?: Readonly<Record<string, CallDefinition>>;
  readonly storage?: Readonly<Record<string, StorageItem>>;
  readonly events?: Readonly<Record<string, EventDefinition>>;
  readonly errors?: Readonly<Record<string, string>>;
  readonly constants?: Readonly<Record<string, ConstantDefinition>>;
  onInitialize?(ctx: DispatchContext): void;
  onFinalize?(ctx: DispatchContext): void;
}

/** Checks the definition and binds its storage items to their keys. */
export function definePallet<P extends PalletDefinition>(pallet: P): P {
  if (!/^[A-Z][A-Za-z0-9]*$/.test(pallet.name)) {
    throw new PalletDefinitionError(`pallet name "${pallet.name}" must be PascalCase`);
  }
  if (!Number.isInteger(pallet.index) || pallet.index < 0 || pallet.index > 255) {
    throw new PalletDefinitionError(`pallet ${pallet.name}: index ${pallet.index} must be 0..255`);
  }
  for (const [name, item] of Object.entries(pallet.storage ?? {})) item.bind(pallet.name, name);
  return pallet;
}

export class PalletDefinitionError extends Error {
  readonly code = "InvalidPalletDefinition";
}

export type StorageKind = "value" | "map" | "doubleMap";

interface StorageSpec {
  readonly type: ScaleType;
  readonly docs?: string;
}

/** Common part of every storage item: its key prefix and value codec, bound by `definePallet`. */
export abstract class StorageItem<V extends NativeValue = NativeValue> {
  abstract readonly kind: StorageKind;
  #pallet: string | undefined;
  #name: string | undefined;
  #prefix: string | undefined;

  constructor(
    readonly valueType: ScaleType,
    readonly defaultValue: V | undefined,
    readonly docs: string | undefined,
  ) {}

  bind(pallet: string, name: string): void {
    if (this.#pallet !== undefined) {
      throw new PalletDefinitionError(`storage item ${pallet}.${name} is already bound to ${this.#pallet}`);
    }
    this.#pallet = pallet;
    this.#name = name;
    this.#prefix = twox128Hex(pallet) + twox128Hex(name).slice(2);
  }

  get pallet(): string {
    if (this.#pallet === undefined) throw new PalletDefinitionError("storage item used before definePallet");
    return this.#pallet;
  }

  get name(): string {
    return this.#name ?? "";
  }

  /** twox128(pallet) ++ twox128(item), as `0x` hex. */
  get prefix(): string {
    if (this.#prefix === undefined) throw new PalletDefinitionError("storage item used before definePallet");
    return this.#prefix;
  }

  protected read(ctx: DispatchContext, key: string): V | undefined {
    const bytes = ctx.state.get(key);
    if (bytes === undefined) return this.defaultValue;
    return ctx.codec.decode(this.pallet, this.valueType, bytes).value as V;
  }

  protected write(ctx: DispatchContext, key: string, value: V): void {
    ctx.state.set(key, ctx.codec.encode(this.pallet, this.valueType, value));
  }

  protected keyPart(ctx: DispatchContext, hasher: Hasher, type: ScaleType, key: NativeValue): string {
    return hashStorageKeyPart(hasher, ctx.codec.encode(this.pallet, type, key));
  }
}

/** `get` returns V for a ValueQuery (with default) and `V | undefined` for an OptionQuery. */
type Query<V, D> = D extends V ? V : V | undefined;

export class StorageValue<V extends NativeValue, D extends V | undefined = undefined> extends StorageItem<V> {
  readonly kind = "value";

  get(ctx: DispatchContext): Query<V, D> {
    return this.read(ctx, this.prefix) as Query<V, D>;
  }

  set(ctx: DispatchContext, value: V): void {
    this.write(ctx, this.prefix, value);
  }

  kill(ctx: DispatchContext): void {
    ctx.state.delete(this.prefix);
  }
}

export class StorageMap<
  K extends NativeValue,
  V extends NativeValue,
  D extends V | undefined = undefined,
> extends StorageItem<V> {
  readonly kind = "map";

  constructor(
    readonly hasher: Hasher,
    readonly keyType: ScaleType,
    valueType: ScaleType,
    defaultValue: D,
    docs: string | undefined,
  ) {
    super(valueType, defaultValue, docs);
  }

  key(ctx: DispatchContext, key: K): string {
    return this.prefix + this.keyPart(ctx, this.hasher, this.keyType, key).slice(2);
  }

  get(ctx: DispatchContext, key: K): Query<V, D> {
    return this.read(ctx, this.key(ctx, key)) as Query<V, D>;
  }

  has(ctx: DispatchContext, key: K): boolean {
    return ctx.state.get(this.key(ctx, key)) !== undefined;
  }

  set(ctx: DispatchContext, key: K, value: V): void {
    this.write(ctx, this.key(ctx, key), value);
  }

  remove(ctx: DispatchContext, key: K): void {
    ctx.state.delete(this.key(ctx, key));
  }

  /** Every stored entry, in storage key order. Needs a `*Concat` or `Identity` hasher. */
  entries(ctx: DispatchContext): Array<[K, V]> {
    return ctx.state.keysWithPrefix(this.prefix).map((fullKey) => {
      const rest = hexToBytes(fullKey.slice(this.prefix.length));
      const key = ctx.codec.decode(this.pallet, this.keyType, rest.subarray(hasherPrefixLength(this.hasher)));
      return [key.value as K, this.read(ctx, fullKey) as V];
    });
  }
}

export class StorageDoubleMap<
  K1 extends NativeValue,
  K2 extends NativeValue,
  V extends NativeValue,
  D extends V | undefined = undefined,
> extends StorageItem<V> {
  readonly kind = "doubleMap";

  constructor(
    readonly hashers: readonly [Hasher, Hasher],
    readonly keyTypes: readonly [ScaleType, ScaleType],
    valueType: ScaleType,
    defaultValue: D,
    docs: string | undefined,
  ) {
    super(valueType, defaultValue, docs);
  }

  prefixFor(ctx: DispatchContext, key1: K1): string {
    return this.prefix + this.keyPart(ctx, this.hashers[0], this.keyTypes[0], key1).slice(2);
  }

  key(ctx: DispatchContext, key1: K1, key2: K2): string {
    return this.prefixFor(ctx, key1) + this.keyPart(ctx, this.hashers[1], this.keyTypes[1], key2).slice(2);
  }

  get(ctx: DispatchContext, key1: K1, key2: K2): Query<V, D> {
    return this.read(ctx, this.key(ctx, key1, key2)) as Query<V, D>;
  }

  has(ctx: DispatchContext, key1: K1, key2: K2): boolean {
    return ctx.state.get(this.key(ctx, key1, key2)) !== undefined;
  }

  set(ctx: DispatchContext, key1: K1, key2: K2, value: V): void {
    this.write(ctx, this.key(ctx, key1, key2), value);
  }

  remove(ctx: DispatchContext, key1: K1, key2: K2): void {
    ctx.state.delete(this.key(ctx, key1, key2));
  }

  /** Every (key2, value) stored under key1, in storage key order. */
  entriesOf(ctx: DispatchContext, key1: K1): Array<[K2, V]> {
    const prefix = this.prefixFor(ctx, key1);
    return ctx.state.keysWithPrefix(prefix).map((fullKey) => {
      const rest = hexToBytes(fullKey.slice(prefix.length));
      const key2 = ctx.codec.decode(
        this.pallet,
        this.keyTypes[1],
        rest.subarray(hasherPrefixLength(this.hashers[1])),
      );
      return [key2.value as K2, this.read(ctx, fullKey) as V];
    });
  }

  /** Removes every entry under key1. */
  removePrefix(ctx: DispatchContext, key1: K1): void {
    for (const key of ctx.state.keysWithPrefix(this.prefixFor(ctx, key1))) ctx.state.delete(key);
  }
}

function hasherPrefixLength(hasher: Hasher): number {
  if (hasher === "Blake2_128Concat") return 16;
  if (hasher === "Twox64Concat") return 8;
  return 0;
}

function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

export function storageValue<V extends NativeValue>(
  spec: StorageSpec & { readonly default: V },
): StorageValue<V, V>;
export function storageValue<V extends NativeValue>(spec: StorageSpec): StorageValue<V>;
export function storageValue<V extends NativeValue>(
  spec: StorageSpec & { readonly default?: V },
): StorageValue<V, V | undefined> {
  return new StorageValue<V, V | undefined>(spec.type, spec.default, spec.docs);
}

interface MapSpec extends StorageSpec {
  readonly hasher: Hasher;
  readonly key: ScaleType;
}

export function storageMap<K extends NativeValue, V extends NativeValue>(
  spec: MapSpec & { readonly default: V },
): StorageMap<K, V, V>;
export function storageMap<K extends NativeValue, V extends NativeValue>(spec: MapSpec): StorageMap<K, V>;
export function storageMap<K extends NativeValue, V extends NativeValue>(
  spec: MapSpec & { readonly default?: V },
): StorageMap<K, V, V | undefined> {
  return new StorageMap<K, V, V | undefined>(spec.hasher, spec.key, spec.type, spec.default, spec.docs);
}

interface DoubleMapSpec extends StorageSpec {
  readonly hashers: readonly [Hasher, Hasher];
  readonly keys: readonly [ScaleType, ScaleType];
}

export function storageDoubleMap<K1 extends NativeValue, K2 extends NativeValue, V extends NativeValue>(
  spec: DoubleMapSpec & { readonly default: V },
): StorageDoubleMap<K1, K2, V, V>;
export function storageDoubleMap<K1 extends NativeValue, K2 extends NativeValue, V extends NativeValue>(
  spec: DoubleMapSpec,
): StorageDoubleMap<K1, K2, V>;
export function storageDoubleMap<K1 extends NativeValue, K2 extends NativeValue, V extends NativeValue>(
  spec: DoubleMapSpec & { readonly default?: V },
): StorageDoubleMap<K1, K2, V, V | undefined> {
  return new StorageDoubleMap<K1, K2, V, V | undefined>(
    spec.hashers,
    spec.keys,
    spec.type,
    spec.default,
    spec.docs,
  );
}
