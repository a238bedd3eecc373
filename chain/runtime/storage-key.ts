// Substrate storage key hashing: twox128 for pallet and item prefixes, and the map key hashers.
import { u8aToHex } from "@polkadot/util";
import { blake2AsU8a, xxhashAsU8a } from "@polkadot/util-crypto";

export type Hasher = "Blake2_128Concat" | "Twox64Concat" | "Identity";

const prefixCache = new Map<string, string>();

/** twox128 of a UTF-8 name as `0x` hex (cached: pallet and item names are few). */
export function twox128Hex(name: string): string {
  let hex = prefixCache.get(name);
  if (hex === undefined) {
    hex = u8aToHex(xxhashAsU8a(name, 128));
    prefixCache.set(name, hex);
  }
  return hex;
}

/** The hashed form of one encoded map key, as `0x` hex. */
export function hashStorageKeyPart(hasher: Hasher, encodedKey: Uint8Array): string {
  switch (hasher) {
    case "Blake2_128Concat":
      return u8aToHex(blake2AsU8a(encodedKey, 128)) + u8aToHex(encodedKey, -1, false);
    case "Twox64Concat":
      return u8aToHex(xxhashAsU8a(encodedKey, 64)) + u8aToHex(encodedKey, -1, false);
    case "Identity":
      return u8aToHex(encodedKey);
  }
}
