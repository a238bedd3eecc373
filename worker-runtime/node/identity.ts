// A node is its sr25519 key: the same key signs gateway requests, commitments, verdicts and
// chain extrinsics, so the address the gateway sees is the account that holds the stake.
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { u8aToHex } from "@polkadot/util";
import { cryptoWaitReady } from "@polkadot/util-crypto";

export interface NodeIdentity {
  address: string;
  pair: KeyringPair;
  /** 0x-prefixed hex sr25519 signature of `message`. */
  sign(message: Uint8Array): string;
}

export async function loadIdentity(seed: string): Promise<NodeIdentity> {
  await cryptoWaitReady();
  const pair = new Keyring({ type: "sr25519", ss58Format: 42 }).addFromUri(seed);
  return { address: pair.address, pair, sign: (message) => u8aToHex(pair.sign(message)) };
}
