// Public identifiers: a type prefix, then a 48-bit millisecond timestamp and 80 random bits in
// lowercase Crockford base32 (26 characters). The alphabet is in ASCII order, so ids sort by
// creation time: "newest first" is `ORDER BY id DESC` and a list cursor is just the last id seen.
import { randomBytes } from "node:crypto";

export const ID_PREFIXES = [
  "org",
  "user",
  "key",
  "sess",
  "file",
  "job",
  "task",
  "txn",
  "whep",
  "msg",
  "sweep",
] as const;
export type IdPrefix = (typeof ID_PREFIXES)[number];

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

function encodeTime(ms: number): string {
  let out = "";
  let rest = ms;
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[rest % 32]! + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

function encodeRandom(): string {
  const bytes = randomBytes(RANDOM_CHARS);
  let out = "";
  for (const byte of bytes) out += ALPHABET[byte & 31]!;
  return out;
}

export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${encodeTime(now)}${encodeRandom()}`;
}

const ID_BODY = new RegExp(`^[${ALPHABET}]{${TIME_CHARS + RANDOM_CHARS}}$`);

/** True when `value` is shaped like an id of this type (it may still not exist). */
export function isId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && ID_BODY.test(value.slice(prefix.length + 1));
}
