// Signing keys from a secret URI (a mnemonic, a hex seed, or a dev path like //Alice), sr25519 as
// Substrate accounts use by default. The address is SS58 with the chain's own prefix.
// The keyring would turn any text into some key (it hashes what is not a mnemonic), so a typo in
// OPERATOR_SEED would silently sign from an empty account; the phrase is checked first.
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady, keyExtractSuri, mnemonicValidate } from "@polkadot/util-crypto";
import { BridgeError } from "./errors.ts";

export type Signer = KeyringPair;

const ACCEPTED =
  "a 12/24-word BIP39 mnemonic, a 0x-prefixed 32-byte hex seed, or a dev derivation such as //Alice, " +
  "each optionally followed by //hard or /soft derivation paths";

function checkedPhrase(seed: string): void {
  // A bare derivation is taken from the well-known development phrase.
  if (seed.startsWith("//")) return;
  let phrase: string;
  try {
    ({ phrase } = keyExtractSuri(seed));
  } catch {
    throw new BridgeError("INVALID_ARGUMENT", `the signing seed is not a secret URI: expected ${ACCEPTED}`);
  }
  const valid = phrase.startsWith("0x") ? /^0x[0-9a-f]{64}$/i.test(phrase) : mnemonicValidate(phrase);
  if (!valid) {
    throw new BridgeError(
      "INVALID_ARGUMENT",
      `the signing seed's phrase is neither a valid BIP39 mnemonic nor a 32-byte hex seed: expected ${ACCEPTED}`,
    );
  }
}

export async function signerFromSeed(seed: string, ss58Format = 42): Promise<Signer> {
  await cryptoWaitReady();
  checkedPhrase(seed.trim());
  return new Keyring({ type: "sr25519", ss58Format }).addFromUri(seed.trim());
}
