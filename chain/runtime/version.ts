// The runtime version (state_getRuntimeVersion, Core_version) and the runtime APIs it offers.
import { u8aToHex } from "@polkadot/util";
import { blake2AsU8a } from "@polkadot/util-crypto";

/** Runtime APIs served through state_call, by name and version (see runtime-apis.ts). */
export const RUNTIME_APIS: ReadonlyArray<readonly [string, number]> = [
  ["Core", 4],
  ["TransactionPaymentApi", 4],
  ["AccountNonceApi", 1],
];

export type RuntimeVersion = {
  readonly specName: string;
  readonly implName: string;
  readonly authoringVersion: number;
  readonly specVersion: number;
  readonly implVersion: number;
  readonly apis: ReadonlyArray<readonly [string, number]>;
  readonly transactionVersion: number;
  readonly stateVersion: number;
};

/** A runtime API is named in the version by the first 8 bytes of blake2 of its name. */
export function runtimeApiId(name: string): string {
  return u8aToHex(blake2AsU8a(name, 64));
}

export const RUNTIME_VERSION: RuntimeVersion = {
  specName: "veritrain",
  implName: "veritrain-devnet",
  authoringVersion: 1,
  specVersion: 100,
  implVersion: 1,
  apis: RUNTIME_APIS.map(([name, version]) => [runtimeApiId(name), version] as const),
  transactionVersion: 1,
  stateVersion: 1,
};
