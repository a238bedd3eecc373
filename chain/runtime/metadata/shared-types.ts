// The runtime-wide types every pallet may name, with the Rust paths @polkadot/api recognises them by
// (AccountId32, MultiAddress, Era, Weight, DispatchError, EventRecord, UncheckedExtrinsic, ...).
import type { NamedTypeSpec, VariantSpec } from "./portable-types.ts";

function unitVariants(names: readonly string[]): VariantSpec[] {
  return names.map((name, index) => ({ name, index, fields: [] }));
}

/** Immortal, then Mortal1(u8)..Mortal255(u8): the two-byte mortal era is its own variant in Rust. */
function eraVariants(): VariantSpec[] {
  const variants: VariantSpec[] = [{ name: "Immortal", index: 0, fields: [] }];
  for (let index = 1; index < 256; index++)
    variants.push({ name: `Mortal${index}`, index, fields: [{ type: "u8" }] });
  return variants;
}

export const SHARED_TYPES: Readonly<Record<string, NamedTypeSpec>> = {
  AccountId32: { path: ["sp_core", "crypto", "AccountId32"], shape: { composite: [{ type: "[u8; 32]" }] } },
  H256: { path: ["primitive_types", "H256"], shape: { composite: [{ type: "[u8; 32]" }] } },
  MultiAddress: {
    path: ["sp_runtime", "multiaddress", "MultiAddress"],
    params: [
      { name: "AccountId", type: "AccountId32" },
      { name: "AccountIndex", type: "u32" },
    ],
    shape: {
      variant: [
        { name: "Id", index: 0, fields: [{ type: "AccountId32", typeName: "AccountId" }] },
        { name: "Index", index: 1, fields: [{ type: "Compact<u32>", typeName: "AccountIndex" }] },
        { name: "Raw", index: 2, fields: [{ type: "Bytes" }] },
        { name: "Address32", index: 3, fields: [{ type: "[u8; 32]" }] },
        { name: "Address20", index: 4, fields: [{ type: "[u8; 20]" }] },
      ],
    },
  },
  MultiSignature: {
    path: ["sp_runtime", "MultiSignature"],
    shape: {
      variant: [
        { name: "Ed25519", index: 0, fields: [{ type: "[u8; 64]" }] },
        { name: "Sr25519", index: 1, fields: [{ type: "[u8; 64]" }] },
        { name: "Ecdsa", index: 2, fields: [{ type: "[u8; 65]" }] },
      ],
    },
  },
  Era: { path: ["sp_runtime", "generic", "era", "Era"], shape: { variant: eraVariants() } },
  Weight: {
    path: ["sp_weights", "weight_v2", "Weight"],
    shape: {
      composite: [
        { name: "ref_time", type: "Compact<u64>" },
        { name: "proof_size", type: "Compact<u64>" },
      ],
    },
  },
  DispatchClass: {
    path: ["frame_support", "dispatch", "DispatchClass"],
    shape: { variant: unitVariants(["Normal", "Operational", "Mandatory"]) },
  },
  Pays: { path: ["frame_support", "dispatch", "Pays"], shape: { variant: unitVariants(["Yes", "No"]) } },
  DispatchInfo: {
    path: ["frame_support", "dispatch", "DispatchInfo"],
    shape: {
      composite: [
        { name: "weight", type: "Weight" },
        { name: "class", type: "DispatchClass" },
        { name: "pays_fee", type: "Pays" },
      ],
    },
  },
  ModuleError: {
    path: ["sp_runtime", "ModuleError"],
    shape: {
      composite: [
        { name: "index", type: "u8" },
        { name: "error", type: "[u8; 4]" },
      ],
    },
  },
  TokenError: {
    path: ["sp_runtime", "TokenError"],
    shape: {
      variant: unitVariants([
        "FundsUnavailable",
        "OnlyProvider",
        "BelowMinimum",
        "CannotCreate",
        "UnknownAsset",
        "Frozen",
        "Unsupported",
        "CannotCreateHold",
        "NotExpendable",
        "Blocked",
      ]),
    },
  },
  ArithmeticError: {
    path: ["sp_arithmetic", "ArithmeticError"],
    shape: { variant: unitVariants(["Underflow", "Overflow", "DivisionByZero"]) },
  },
  TransactionalError: {
    path: ["sp_runtime", "TransactionalError"],
    shape: { variant: unitVariants(["LimitReached", "NoLayer"]) },
  },
  DispatchError: {
    path: ["sp_runtime", "DispatchError"],
    shape: {
      variant: [
        { name: "Other", index: 0, fields: [] },
        { name: "CannotLookup", index: 1, fields: [] },
        { name: "BadOrigin", index: 2, fields: [] },
        { name: "Module", index: 3, fields: [{ type: "ModuleError" }] },
        { name: "ConsumerRemaining", index: 4, fields: [] },
        { name: "NoProviders", index: 5, fields: [] },
        { name: "TooManyConsumers", index: 6, fields: [] },
        { name: "Token", index: 7, fields: [{ type: "TokenError" }] },
        { name: "Arithmetic", index: 8, fields: [{ type: "ArithmeticError" }] },
        { name: "Transactional", index: 9, fields: [{ type: "TransactionalError" }] },
        { name: "Exhausted", index: 10, fields: [] },
        { name: "Corruption", index: 11, fields: [] },
        { name: "Unavailable", index: 12, fields: [] },
        { name: "RootNotAllowed", index: 13, fields: [] },
      ],
    },
  },
  Phase: {
    path: ["frame_system", "Phase"],
    shape: {
      variant: [
        { name: "ApplyExtrinsic", index: 0, fields: [{ type: "u32" }] },
        { name: "Finalization", index: 1, fields: [] },
        { name: "Initialization", index: 2, fields: [] },
      ],
    },
  },
  EventRecord: {
    path: ["frame_system", "EventRecord"],
    params: [
      { name: "E", type: "RuntimeEvent" },
      { name: "T", type: "H256" },
    ],
    shape: {
      composite: [
        { name: "phase", type: "Phase" },
        { name: "event", type: "RuntimeEvent" },
        { name: "topics", type: "Vec<H256>" },
      ],
    },
  },
};

export const SHARED_ALIASES: Readonly<Record<string, string>> = {
  DispatchResult: "Result<(), DispatchError>",
};
