// Generates SCALE metadata V14 from the pallet definitions, and the @polkadot/types registry the
// runtime encodes with (the same one a client builds from the served metadata).

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

export type BuiltMetadata = {
  /** The metadata as `state_getMetadata` serves it (magic number, version 14, body). */
  readonly bytes: Uint8Array;
  readonly registry: TypeRegistry;
  readonly types: PortableTypeBuilder;
};

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

function outerEnum(
  pallets: readonly PalletDefinition[],
  scopes: ReadonlyMap<string, TypeScope>,
  types: PortableTypeBuilder,
  has: (pallet: PalletDefinition) => boolean,
  inner: string,
  name: string,
): NamedTypeSpec {
  return {
    path: [RUNTIME_CRATE, name],
    shape: () => ({
      variant: pallets.filter(has).map((pallet) => ({
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
  properties: ChainProperties,
): BuiltMetadata {
  const scopes = new Map(pallets.map((pallet) => [pallet.name, palletScope(pallet)]));
  const shared: Record<string, NamedTypeSpec> = { ...SHARED_TYPES };
  const types = new PortableTypeBuilder(shared, SHARED_ALIASES);
  shared.RuntimeCall = outerEnum(
    pallets,
    scopes,
    types,
    (p) => p.calls !== undefined,
    PALLET_CALL,
    "RuntimeCall",
  );
  shared.RuntimeEvent = outerEnum(
    pallets,
    scopes,
    types,
    (p) => p.events !== undefined,
    PALLET_EVENT,
    "RuntimeEvent",
  );
  for (const extension of extensions) shared[extension.identifier] = extension.type;
  shared.UncheckedExtrinsic = {
    path: ["sp_runtime", "generic", "unchecked_extrinsic", "UncheckedExtrinsic"],
    params: [
      { name: "Address", type: "MultiAddress" },
      { name: "Call", type: "RuntimeCall" },
      { name: "Signature", type: "MultiSignature" },
      { name: "Extra", type: `(${extensions.map((e) => e.identifier).join(", ")})` },
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
  for (const name of [
    "RuntimeCall",
    "RuntimeEvent",
    "DispatchResult",
    "DispatchError",
    "EventRecord",
    "Phase",
  ]) {
    types.resolve(name, sharedScope);
  }
  const runtimeType = types.resolve("RuntimeCall", sharedScope);

  const toMetadata = () =>
    ({
      magicNumber: 0x6174656d,
      metadata: {
        v14: { lookup: { types: types.types }, pallets: palletsJson, extrinsic, type: runtimeType },
      },
    }) as unknown as Record<string, unknown>;

  // Defaults and constants are SCALE-encoded with the types just built, so register them first.
  const draft = registryFor(new Metadata(new TypeRegistry(), toMetadata()).toU8a(), properties);
  for (const slot of valueSlots) {
    const id = types.lookup(slot.type, slot.scope)!;
    slot.assign(draft.createTypeUnsafe(draft.createLookupType(id), [slot.value]).toU8a());
  }
  const bytes = new Metadata(new TypeRegistry(), toMetadata()).toU8a();
  return { bytes, registry: registryFor(bytes, properties), types };
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
