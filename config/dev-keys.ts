// The development keys every Substrate developer knows: anyone can sign with them, so a
// production process that holds one holds nothing secret. They are refused in production.

/** Substrate's public development mnemonic; `//Alice` is short for it with that derivation. */
const DEV_PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
/** Mini-secrets of //Alice and //Bob as printed by `subkey inspect`, sometimes pasted as seeds. */
const DEV_SECRETS = new Set([
  "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a",
  "0x398f0c28f98885e046333d4a41c19cee4c37368a9832c6502f6cfd182e2aef89",
]);

/** True for a secret URI that derives from the public development mnemonic. */
export function isWellKnownDevSeed(suri: string): boolean {
  const seed = suri.trim().toLowerCase().replace(/\s+/g, " ");
  if (DEV_SECRETS.has(seed)) return true;
  if (seed.startsWith(DEV_PHRASE)) return true;
  // A bare derivation path is applied to the dev phrase: "//Alice", "//Alice//stash", "/x".
  return seed.startsWith("/");
}
