// Password hashing with scrypt, a memory-hard KDF: each guess costs an attacker 128 MiB of memory
// (OWASP's N=2^17, r=8, p=1), which is what makes offline cracking of a stolen table expensive on
// GPUs. Parameters travel with the hash, so hashes made with weaker ones still verify, and are
// replaced at the next successful login (needsRehash).
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";

const LOG2_N = 17;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

function derive(password: string, salt: Buffer, options: ScryptOptions, keyLength: number): Promise<Buffer> {
  // scrypt needs 128 * N * r bytes, past Node's default cap of 32 MiB.
  const maxmem = 256 * (options.N ?? 0) * (options.r ?? 0);
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFKC"), salt, keyLength, { ...options, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

/** `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`, salt and hash in base64url. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const options = { N: 2 ** LOG2_N, r: BLOCK_SIZE, p: PARALLELISM };
  const key = await derive(password, salt, options, KEY_LENGTH);
  return [
    "scrypt",
    LOG2_N,
    BLOCK_SIZE,
    PARALLELISM,
    salt.toString("base64url"),
    key.toString("base64url"),
  ].join("$");
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const [scheme, log2n, r, p, salt, hash] = encoded.split("$");
  if (scheme !== "scrypt" || !log2n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64url");
  const options = { N: 2 ** Number(log2n), r: Number(r), p: Number(p) };
  const actual = await derive(password, Buffer.from(salt, "base64url"), options, expected.length);
  return timingSafeEqual(actual, expected);
}

/** Whether `encoded` was made with weaker parameters than today's, so a login should replace it. */
export function needsRehash(encoded: string): boolean {
  const [scheme, log2n, r, p] = encoded.split("$");
  return scheme !== "scrypt" || Number(log2n) < LOG2_N || Number(r) < BLOCK_SIZE || Number(p) < PARALLELISM;
}

/**
 * A hash of a random password, verified against when an email is unknown so that a login for a
 * missing account takes as long as one with a wrong password (no account enumeration by timing).
 */
let decoy: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString("hex"));
  return decoy;
}
