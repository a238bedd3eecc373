// The runtime version (state_getRuntimeVersion, Core_version, System::Version) with the runtime
// APIs it implements (runtime-apis.ts declares exactly these).
import { u8aToHex } from "@polkadot/util";
import { blake2AsU8a } from "@polkadot/util-crypto";

export const RUNTIME_API_VERSIONS = {
  Core: 4,
  Metadata: 2,
  BlockBuilder: 6,
  TaggedTransactionQueue: 3,
  AccountNonceApi: 1,
  TransactionPaymentApi: 4,
  TransactionPaymentCallApi: 3,
} as const;

export type RuntimeApiName = keyof typeof RUNTIME_API_VERSIONS;

export type RuntimeVersion = {
  readonly specName: string;
  readonly implName: string;
  readonly authoringVersion: number;
  readonly specVersion: number;
  readonly implVersion: number;
  /** Runtime API id (runtimeApiId) and version. */
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
  apis: Object.entries(RUNTIME_API_VERSIONS).map(([name, version]) => [runtimeApiId(name), version] as const),
  transactionVersion: 1,
  stateVersion: 1,
};
