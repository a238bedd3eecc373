// Block headers as Substrate encodes and hashes them: blake2_256 of the SCALE header.
import type { TypeRegistry } from "@polkadot/types";
import { u8aToHex } from "@polkadot/util";
import { blake2AsU8a } from "@polkadot/util-crypto";

export type HeaderFields = {
  readonly parentHash: string;
  readonly number: number;
  readonly stateRoot: string;
  readonly extrinsicsRoot: string;
};

/** The header as JSON-RPC returns it (block number in hex, like a Substrate node). */
export type HeaderJson = {
  parentHash: string;
  number: string;
  stateRoot: string;
  extrinsicsRoot: string;
  digest: { logs: string[] };
};

export type SealedHeader = {
  readonly fields: HeaderFields;
  readonly bytes: Uint8Array;
  readonly hash: string;
};

export function sealHeader(registry: TypeRegistry, fields: HeaderFields): SealedHeader {
  const bytes = registry.createType("Header", { ...fields, digest: { logs: [] } }).toU8a();
  return { fields, bytes, hash: u8aToHex(blake2AsU8a(bytes, 256)) };
}

export function headerJson(fields: HeaderFields): HeaderJson {
  return {
    parentHash: fields.parentHash,
    number: `0x${fields.number.toString(16)}`,
    stateRoot: fields.stateRoot,
    extrinsicsRoot: fields.extrinsicsRoot,
    digest: { logs: [] },
  };
}
