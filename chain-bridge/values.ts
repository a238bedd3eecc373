// Narrowing of decoded chain values (Codec.toPrimitive output, or stored event JSON) into the
// types the bridge works with. A value of the wrong shape means the node runs a different
// runtime than PROTOCOL.md describes: that is reported, never guessed around.
import { BridgeError } from "./errors.ts";

function mismatch(what: string, expected: string, value: unknown): BridgeError {
  return new BridgeError(
    "RECONCILE_FAILED",
    `${what} should be ${expected} per PROTOCOL.md, the chain returned ${JSON.stringify(value)}`,
  );
}

export function objectOf(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw mismatch(what, "a struct", value);
  return value as Record<string, unknown>;
}

export function bigintOf(value: unknown, what: string): bigint {
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (typeof value === "bigint") return value;
  if (typeof value === "string" && /^(\d+|0x[0-9a-f]+)$/i.test(value)) return BigInt(value);
  throw mismatch(what, "an integer", value);
}

export function numberOf(value: unknown, what: string): number {
  const big = bigintOf(value, what);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw mismatch(what, "a small integer", value);
  return Number(big);
}

export function stringOf(value: unknown, what: string): string {
  if (typeof value !== "string") throw mismatch(what, "a string", value);
  return value;
}

/**
 * A 32-byte hash. @polkadot/types' toPrimitive renders a byte array whose bytes are all printable
 * ASCII as that text instead of hex (a profile of 32 × 0x22 comes back as 32 quote marks), so a
 * 32-character printable string is read back as its bytes.
 */
export function hashOf(value: unknown, what: string): string {
  if (typeof value === "string" && /^[\x20-\x7e]{32}$/.test(value)) {
    return `0x${Buffer.from(value, "latin1").toString("hex")}`;
  }
  if (typeof value !== "string" || !/^0x[0-9a-f]{64}$/i.test(value))
    throw mismatch(what, "a 32-byte hash", value);
  return value.toLowerCase();
}

export function boolOf(value: unknown, what: string): boolean {
  if (typeof value !== "boolean") throw mismatch(what, "a boolean", value);
  return value;
}

/** A unit enum variant (toPrimitive gives its name; some encoders give `{ Name: null }`). */
export function variantOf<T extends string>(value: unknown, variants: readonly T[], what: string): T {
  const name = typeof value === "object" && value !== null ? Object.keys(value)[0] : value;
  const found = variants.find((variant) => variant.toLowerCase() === String(name).toLowerCase());
  if (found === undefined) throw mismatch(what, `one of ${variants.join(", ")}`, value);
  return found;
}

export function optionalOf<T>(value: unknown, read: (present: unknown) => T): T | null {
  return value === null || value === undefined ? null : read(value);
}

export function listOf(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw mismatch(what, "a list", value);
  return value;
}

/**
 * Checks a hash the caller gives the bridge: 32 bytes as 64 hex digits, `0x`-prefixed or bare
 * (SHA-256 digests are usually stored bare); returns the `0x`-prefixed lowercase form.
 */
export function hashArgument(value: string, name: string): string {
  const match = /^(?:0x)?([0-9a-f]{64})$/i.exec(value);
  if (!match) {
    throw new BridgeError(
      "INVALID_ARGUMENT",
      `${name} must be a 32-byte hash as 64 hex digits (optionally 0x-prefixed), got "${value}"`,
    );
  }
  return `0x${match[1]!.toLowerCase()}`;
}
