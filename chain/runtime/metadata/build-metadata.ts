// Generates SCALE metadata V14 and V15 from the pallet and runtime API definitions, and the
// @polkadot/types registry the runtime encodes with (the same one a client builds from the served
// metadata). Both versions share one type registry; V15 adds the runtime APIs, the outer enums
// (RuntimeCall, RuntimeEvent, RuntimeError), the extrinsic's address, call, signature and extra
// types and the pallets' docs.

import { GenericChainProperties, Metadata, TypeRegistry } from "@polkadot/types";
import { u8aToHex } from "@polkadot/util";
import {
  type NativeValue,
  type PalletDefinition,
  type ScaleType,
  StorageDoubleMap,
  StorageMap,
} from "../pallet.ts";
import { type NamedTypeSpec, PortableTypeBuilder, snakeCase, type TypeScope } from "./portable-types.ts";
import { SHARED_ALIASES, SHARED_TYPES } from "./shared-types.ts";

export type ExtensionMetadata = {
  readonly identifier: string;
  readonly type: NamedTypeSpec;
  readonly additionalSigned: ScaleType;
};

export type ChainProperties = {
  readonly ss58Format: number;
  readonly tokenSymbol: string;
  readonly tokenDecimals: number;
};

/** A runtime API as metadata V15 describes it: methods by snake_case name, inputs in order. */
export type RuntimeApiMetadata = {
  readonly name: string;
  readonly docs: string;
  readonly methods: Readonly<
    Record<
      string,
      {
        readonly inputs: Readonly<Record<string, ScaleType>>;
        readonly output: ScaleType;
        readonly docs: string;
      }
    >
  >;
};

export type BuiltMetadata = {
  /** The metadata as `state_getMetadata` and `Metadata_metadata` serve it (magic, version 14, body). */
  readonly v14: Uint8Array;
  readonly v15: Uint8Array;
  readonly registry: TypeRegistry;
  readonly types: PortableTypeBuilder;
};

/** The metadata versions `Metadata_metadata_at_version` answers, oldest first. */
export const METADATA_VERSIONS = [14, 15] as const;

const RUNTIME_CRATE = "veritrain_runtime";
/** Names the pallet format reserves in every pallet's type scope for its generated enums. */
const PALLET_CALL = "PalletCall";
const PALLET_EVENT = "PalletEvent";
const PALLET_ERROR = "PalletError";

export function palletCrate(pallet: PalletDefinition): string {
  return pallet.crate ?? `pallet_${snakeCase(pallet.name)}`;
}

function palletScope(pallet: PalletDefinition): TypeScope {
  const crate = palletCrate(pallet);
  const types: Record<string, NamedTypeSpec> = {};
  for (const [name, definition] of Object.entries(pallet.types ?? {})) {
    types[name] =
      "struct" in definition
        ? {
            path: [crate, "types", name],
            shape: {
              composite: Object.entries(definition.struct).map(([field, type]) => ({
                name: snakeCase(field),
                type,
              })),
            },
          }
        : {
            path: [crate, "types", name],
            shape: {
              variant: Object.entries(definition.enum).map(([variant, payload], index) => ({
                name: variant,
                index,
                fields: payload === null ? [] : [{ type: payload }],
              })),
            },
          };
  }
  const generic = [{ name: "T", type: null }];
  types[PALLET_CALL] = {
    path: [crate, "pallet", "Call"],
    params: generic,
    docs: ["Contains a variant per dispatchable extrinsic that this pallet has."],
    shape: {
      variant: Object.entries(pallet.calls ?? {}).map(([name, call], index) => ({
        name: snakeCase(name),
        index,
        fields: Object.entries(call.args).map(([arg, type]) => ({ name: snakeCase(arg), type })),
        docs: call.docs === undefined ? [] : [call.docs],
      })),
    },
  };
  types[PALLET_EVENT] = {
    path: [crate, "pallet", "Event"],
    params: generic,
    docs: ["The `Event` enum of this pallet"],
    shape: {
      variant: Object.entries(pallet.events ?? {}).map(([name, fields], index) => ({
        name,
        index,
        fields: Object.entries(fields).map(([field, type]) => ({ name: snakeCase(field), type })),
      })),
    },
  };
  types[PALLET_ERROR] = {
    path: [crate, "pallet", "Error"],
    params: generic,
    docs: ["The `Error` enum of this pallet."],
    shape: {
      variant: Object.entries(pallet.errors ?? {}).map(([name, docs], index) => ({
        name,
        index,
        fields: [],
        docs: [docs],
      })),
    },
  };
  return { name: pallet.name, types };
}

/** The runtime's enums of every pallet's calls, events and errors, by the pallet item they wrap. */
const OUTER_ENUMS = [
  { name: "RuntimeCall", item: "calls", inner: PALLET_CALL },
  { name: "RuntimeEvent", item: "events", inner: PALLET_EVENT },
  { name: "RuntimeError", item: "errors", inner: PALLET_ERROR },
] as const;

function outerEnum(
  pallets: readonly PalletDefinition[],
  scopes: ReadonlyMap<string, TypeScope>,
  types: PortableTypeBuilder,
  { name, item, inner }: (typeof OUTER_ENUMS)[number],
): NamedTypeSpec {
  return {
    path: [RUNTIME_CRATE, name],
    shape: () => ({
      variant: pallets
        .filter((pallet) => pallet[item] !== undefined)
        .map((pallet) => ({
          name: pallet.name,
          index: pallet.index,
          fields: [{ type: types.resolve(inner, scopes.get(pallet.name)!) }],
        })),
    }),
  };
}

type StorageJson = {
  name: string;
  modifier: "Optional" | "Default";
  type: { Plain: number } | { Map: { hashers: string[]; key: number; value: number } };
  /** `0x` hex: a Uint8Array would be read as already SCALE-encoded Bytes. */
  fallback: string;
  docs: string[];
};

export function buildMetadata(
  pallets: readonly PalletDefinition[],
  extensions: readonly ExtensionMetadata[],
  apis: readonly RuntimeApiMetadata[],
  properties: ChainProperties,
): BuiltMetadata {
  const scopes = new Map(pallets.map((pallet) => [pallet.name, palletScope(pallet)]));
  const shared: Record<string, NamedTypeSpec> = { ...SHARED_TYPES };
  const types = new PortableTypeBuilder(shared, SHARED_ALIASES);
  for (const outer of OUTER_ENUMS) shared[outer.name] = outerEnum(pallets, scopes, types, outer);
  shared.Runtime = { path: [RUNTIME_CRATE, "Runtime"], shape: { composite: [] } };
  for (const extension of extensions) shared[extension.identifier] = extension.type;
  const extra = `(${extensions.map((e) => e.identifier).join(", ")})`;
  shared.UncheckedExtrinsic = {
    path: ["sp_runtime", "generic", "unchecked_extrinsic", "UncheckedExtrinsic"],
    params: [
      { name: "Address", type: "MultiAddress" },
      { name: "Call", type: "RuntimeCall" },
      { name: "Signature", type: "MultiSignature" },
      { name: "Extra", type: extra },
    ],
    shape: { composite: [{ type: "Bytes" }] },
  };
  const sharedScope: TypeScope = { name: "", types: {} };

  const valueSlots: Array<{
    scope: string;
    type: ScaleType;
    value: NativeValue;
    assign: (bytes: Uint8Array) => void;
  }> = [];
  const palletsJson = [...pallets]
    .sort((a, b) => a.index - b.index)
    .map((pallet) => {
      const scope = scopes.get(pallet.name)!;
      const storage = Object.entries(pallet.storage ?? {}).map(([name, item]) => {
        const entry: StorageJson = {
          name,
          modifier: item.defaultValue === undefined ? "Optional" : "Default",
          type: { Plain: 0 },
          fallback: "0x00",
          docs: item.docs === undefined ? [] : [item.docs],
        };
        const value = types.resolve(item.valueType, scope);
        if (item instanceof StorageMap) {
          entry.type = { Map: { hashers: [item.hasher], key: types.resolve(item.keyType, scope), value } };
        } else if (item instanceof StorageDoubleMap) {
          for (const keyType of item.keyTypes) types.resolve(keyType, scope);
          const key = types.resolve(`(${item.keyTypes.join(", ")})`, scope);
          entry.type = { Map: { hashers: [...item.hashers], key, value } };
        } else {
          entry.type = { Plain: value };
        }
        if (item.defaultValue !== undefined) {
          valueSlots.push({
            scope: pallet.name,
            type: item.valueType,
            value: item.defaultValue,
            assign: (bytes) => {
              entry.fallback = u8aToHex(bytes);
            },
          });
        }
        return entry;
      });
      const constants = Object.entries(pallet.constants ?? {}).map(([name, constant]) => {
        const entry = {
          name,
          type: types.resolve(constant.type, scope),
          value: "0x",
          docs: constant.docs === undefined ? [] : [constant.docs],
        };
        valueSlots.push({
          scope: pallet.name,
          type: constant.type,
          value: constant.value,
          assign: (bytes) => {
            entry.value = u8aToHex(bytes);
          },
        });
        return entry;
      });
      for (const call of Object.values(pallet.calls ?? {})) {
        for (const type of Object.values(call.args)) types.resolve(type, scope);
      }
      for (const fields of Object.values(pallet.events ?? {})) {
        for (const type of Object.values(fields)) types.resolve(type, scope);
      }
      return {
        name: pallet.name,
        storage: storage.length === 0 ? null : { prefix: pallet.name, items: storage },
        calls: pallet.calls === undefined ? null : { type: types.resolve(PALLET_CALL, scope) },
        events: pallet.events === undefined ? null : { type: types.resolve(PALLET_EVENT, scope) },
        constants,
        errors: pallet.errors === undefined ? null : { type: types.resolve(PALLET_ERROR, scope) },
        index: pallet.index,
        docs: pallet.docs === undefined ? [] : [pallet.docs],
      };
    });
  const extrinsic = {
    type: types.resolve("UncheckedExtrinsic", sharedScope),
    version: 4,
    signedExtensions: extensions.map((extension) => ({
      identifier: extension.identifier,
      type: types.resolve(extension.identifier, sharedScope),
      additionalSigned: types.resolve(extension.additionalSigned, sharedScope),
    })),
  };
  for (const name of ["DispatchResult", "DispatchError", "EventRecord", "Phase"]) {
    types.resolve(name, sharedScope);
  }
  const outerEnums = {
    callType: types.resolve("RuntimeCall", sharedScope),
    eventType: types.resolve("RuntimeEvent", sharedScope),
    errorType: types.resolve("RuntimeError", sharedScope),
  };
  const runtimeType = types.resolve("Runtime", sharedScope);
  const extrinsicV15 = {
    ...extrinsic,
    addressType: types.resolve("MultiAddress", sharedScope),
    callType: outerEnums.callType,
    signatureType: types.resolve("MultiSignature", sharedScope),
    extraType: types.resolve(extra, sharedScope),
  };
  const apisJson = apis.map((api) => ({
    name: api.name,
    methods: Object.entries(api.methods).map(([name, method]) => ({
      name,
      inputs: Object.entries(method.inputs).map(([input, type]) => ({
        name: input,
        type: types.resolve(type, sharedScope),
      })),
      output: types.resolve(method.output, sharedScope),
      docs: [method.docs],
    })),
    docs: [api.docs],
  }));

  const toMetadata = (version: (typeof METADATA_VERSIONS)[number]) =>
    ({
      magicNumber: 0x6174656d,
      metadata:
        version === 14
          ? {
              v14: {
                lookup: { types: types.types },
                pallets: palletsJson.map(({ docs: _v15Only, ...pallet }) => pallet),
                extrinsic,
                type: runtimeType,
              },
            }
          : {
              v15: {
                lookup: { types: types.types },
                pallets: palletsJson,
                extrinsic: extrinsicV15,
                type: runtimeType,
                apis: apisJson,
                outerEnums,
                custom: { map: {} },
              },
            },
    }) as unknown as Record<string, unknown>;

  // Defaults and constants are SCALE-encoded with the types just built, so register them first.
  const draft = registryFor(new Metadata(new TypeRegistry(), toMetadata(14)).toU8a(), properties);
  for (const slot of valueSlots) {
    const id = types.lookup(slot.type, slot.scope)!;
    slot.assign(draft.createTypeUnsafe(draft.createLookupType(id), [slot.value]).toU8a());
  }
  const v14 = new Metadata(new TypeRegistry(), toMetadata(14)).toU8a();
  const v15 = new Metadata(new TypeRegistry(), toMetadata(15)).toU8a();
  return { v14, v15, registry: registryFor(v15, properties), types };
}

function registryFor(bytes: Uint8Array, properties: ChainProperties): TypeRegistry {
  const registry = new TypeRegistry();
  registry.setMetadata(new Metadata(registry, bytes));
  registry.setChainProperties(
    new GenericChainProperties(registry, {
      ss58Format: properties.ss58Format,
      tokenDecimals: [properties.tokenDecimals],
      tokenSymbol: [properties.tokenSymbol],
    }),
  );
  return registry;
}
