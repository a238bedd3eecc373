// Signing keys from a secret URI (a mnemonic, a hex seed, or a dev path like //Alice), sr25519 as
// Substrate accounts use by default. The address is SS58 with the chain's own prefix.
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { BridgeError } from "./errors.ts";

export type Signer = KeyringPair;

export async function signerFromSeed(seed: string, ss58Format = 42): Promise<Signer> {
  await cryptoWaitReady();
  try {
    return new Keyring({ type: "sr25519", ss58Format }).addFromUri(seed);
  } catch (error) {
    throw new BridgeError(
      "INVALID_ARGUMENT",
      `the signing seed is not a valid secret URI (a 12/24-word mnemonic, a 0x-prefixed 32-byte seed, ` +
        `or a derivation such as //Alice): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
