// The runtime-wide types every pallet and runtime API may name, with the Rust paths clients recognise
// them by (AccountId32, MultiAddress, Era, Weight, DispatchError, EventRecord, Header, ...).
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

const PALLET_SHARED_TYPES: Readonly<Record<string, NamedTypeSpec>> = {
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

/** The types of the runtime APIs' inputs and outputs (sp_version, sp_runtime, sp_inherents, ...). */
const RUNTIME_API_TYPES: Readonly<Record<string, NamedTypeSpec>> = {
  BlakeTwo256: { path: ["sp_runtime", "traits", "BlakeTwo256"], shape: { composite: [] } },
  DigestItem: {
    path: ["sp_runtime", "generic", "digest", "DigestItem"],
    shape: {
      variant: [
        { name: "PreRuntime", index: 6, fields: [{ type: "[u8; 4]" }, { type: "Bytes" }] },
        { name: "Consensus", index: 4, fields: [{ type: "[u8; 4]" }, { type: "Bytes" }] },
        { name: "Seal", index: 5, fields: [{ type: "[u8; 4]" }, { type: "Bytes" }] },
        { name: "Other", index: 0, fields: [{ type: "Bytes" }] },
        { name: "RuntimeEnvironmentUpdated", index: 8, fields: [] },
      ],
    },
  },
  Digest: {
    path: ["sp_runtime", "generic", "digest", "Digest"],
    shape: { composite: [{ name: "logs", type: "Vec<DigestItem>" }] },
  },
  Header: {
    path: ["sp_runtime", "generic", "header", "Header"],
    params: [
      { name: "Number", type: "u32" },
      { name: "Hash", type: "BlakeTwo256" },
    ],
    shape: {
      composite: [
        { name: "parent_hash", type: "H256", typeName: "Hash::Output" },
        { name: "number", type: "Compact<u32>", typeName: "Number" },
        { name: "state_root", type: "H256", typeName: "Hash::Output" },
        { name: "extrinsics_root", type: "H256", typeName: "Hash::Output" },
        { name: "digest", type: "Digest" },
      ],
    },
  },
  Block: {
    path: ["sp_runtime", "generic", "block", "Block"],
    params: [
      { name: "Header", type: "Header" },
      { name: "Extrinsic", type: "UncheckedExtrinsic" },
    ],
    shape: {
      composite: [
        { name: "header", type: "Header" },
        { name: "extrinsics", type: "Vec<UncheckedExtrinsic>" },
      ],
    },
  },
  RuntimeVersion: {
    path: ["sp_version", "RuntimeVersion"],
    shape: {
      composite: [
        { name: "spec_name", type: "Text" },
        { name: "impl_name", type: "Text" },
        { name: "authoring_version", type: "u32" },
        { name: "spec_version", type: "u32" },
        { name: "impl_version", type: "u32" },
        { name: "apis", type: "Vec<([u8; 8], u32)>", typeName: "ApisVec" },
        { name: "transaction_version", type: "u32" },
        { name: "state_version", type: "u8" },
      ],
    },
  },
  OpaqueMetadata: { path: ["sp_core", "OpaqueMetadata"], shape: { composite: [{ type: "Bytes" }] } },
  InvalidTransaction: {
    path: ["sp_runtime", "transaction_validity", "InvalidTransaction"],
    shape: {
      variant: [
        ...unitVariants(["Call", "Payment", "Future", "Stale", "BadProof", "AncientBirthBlock"]),
        { name: "ExhaustsResources", index: 6, fields: [] },
        { name: "Custom", index: 7, fields: [{ type: "u8" }] },
        ...unitVariants([
          "BadMandatory",
          "MandatoryValidation",
          "BadSigner",
          "IndeterminateImplicit",
          "UnknownOrigin",
        ]).map((variant) => ({ ...variant, index: variant.index + 8 })),
      ],
    },
  },
  UnknownTransaction: {
    path: ["sp_runtime", "transaction_validity", "UnknownTransaction"],
    shape: {
      variant: [
        ...unitVariants(["CannotLookup", "NoUnsignedValidator"]),
        { name: "Custom", index: 2, fields: [{ type: "u8" }] },
      ],
    },
  },
  TransactionValidityError: {
    path: ["sp_runtime", "transaction_validity", "TransactionValidityError"],
    shape: {
      variant: [
        { name: "Invalid", index: 0, fields: [{ type: "InvalidTransaction" }] },
        { name: "Unknown", index: 1, fields: [{ type: "UnknownTransaction" }] },
      ],
    },
  },
  TransactionSource: {
    path: ["sp_runtime", "transaction_validity", "TransactionSource"],
    shape: { variant: unitVariants(["InBlock", "Local", "External"]) },
  },
  ValidTransaction: {
    path: ["sp_runtime", "transaction_validity", "ValidTransaction"],
    shape: {
      composite: [
        { name: "priority", type: "u64", typeName: "TransactionPriority" },
        { name: "requires", type: "Vec<Bytes>", typeName: "Vec<TransactionTag>" },
        { name: "provides", type: "Vec<Bytes>", typeName: "Vec<TransactionTag>" },
        { name: "longevity", type: "u64", typeName: "TransactionLongevity" },
        { name: "propagate", type: "bool" },
      ],
    },
  },
  InherentDataMap: {
    path: ["BTreeMap"],
    params: [
      { name: "K", type: "[u8; 8]" },
      { name: "V", type: "Bytes" },
    ],
    shape: { composite: [{ type: "Vec<([u8; 8], Bytes)>" }] },
  },
  InherentData: {
    path: ["sp_inherents", "InherentData"],
    shape: {
      composite: [
        { name: "data", type: "InherentDataMap", typeName: "BTreeMap<InherentIdentifier, Vec<u8>>" },
      ],
    },
  },
  CheckInherentsResult: {
    path: ["sp_inherents", "CheckInherentsResult"],
    shape: {
      composite: [
        { name: "okay", type: "bool" },
        { name: "fatal_error", type: "bool" },
        { name: "errors", type: "InherentData" },
      ],
    },
  },
  RuntimeDispatchInfo: {
    path: ["pallet_transaction_payment", "types", "RuntimeDispatchInfo"],
    params: [
      { name: "Balance", type: "u128" },
      { name: "Weight", type: "Weight" },
    ],
    shape: {
      composite: [
        { name: "weight", type: "Weight" },
        { name: "class", type: "DispatchClass" },
        { name: "partial_fee", type: "u128", typeName: "Balance" },
      ],
    },
  },
  InclusionFee: {
    path: ["pallet_transaction_payment", "types", "InclusionFee"],
    params: [{ name: "Balance", type: "u128" }],
    shape: {
      composite: [
        { name: "base_fee", type: "u128", typeName: "Balance" },
        { name: "len_fee", type: "u128", typeName: "Balance" },
        { name: "adjusted_weight_fee", type: "u128", typeName: "Balance" },
      ],
    },
  },
  FeeDetails: {
    path: ["pallet_transaction_payment", "types", "FeeDetails"],
    params: [{ name: "Balance", type: "u128" }],
    shape: {
      composite: [
        { name: "inclusion_fee", type: "Option<InclusionFee>" },
        { name: "tip", type: "u128", typeName: "Balance" },
      ],
    },
  },
};

export const SHARED_TYPES: Readonly<Record<string, NamedTypeSpec>> = {
  ...PALLET_SHARED_TYPES,
  ...RUNTIME_API_TYPES,
};

export const SHARED_ALIASES: Readonly<Record<string, string>> = {
  DispatchResult: "Result<(), DispatchError>",
  ApplyExtrinsicResult: "Result<Result<(), DispatchError>, TransactionValidityError>",
  TransactionValidity: "Result<ValidTransaction, TransactionValidityError>",
};
