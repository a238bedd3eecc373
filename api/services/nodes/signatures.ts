// Verification of what nodes sign (the messages themselves are built in protocol/signed-messages.ts,
// shared with the node daemon and receipt verification).
import { decodeAddress } from "@polkadot/util-crypto";
import { sr25519Verify, waitReady } from "@polkadot/wasm-crypto";

const SIGNATURE_HEX = /^0x[0-9a-fA-F]{128}$/;

/** The 32-byte public key of an SS58 address, or null when it is not one. */
export function publicKeyOf(address: string): Uint8Array | null {
  try {
    const key = decodeAddress(address);
    return key.length === 32 ? key : null;
  } catch {
    return null;
  }
}

/**
 * True when `signature` (0x + 64 bytes hex) is the sr25519 signature of `message` by the key
 * of `address`. The WebAssembly verifier is about ten times faster than the pure-JS one.
 */
export async function verifyNodeSignature(
  address: string,
  message: Uint8Array,
  signature: string,
): Promise<boolean> {
  const key = publicKeyOf(address);
  if (!key || !SIGNATURE_HEX.test(signature)) return false;
  await waitReady();
  return sr25519Verify(Buffer.from(signature.slice(2), "hex"), message, key);
}
