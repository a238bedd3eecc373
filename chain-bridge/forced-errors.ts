// A verifier's side of forced errors (PROTOCOL.md §5.5): the secret it commits to at
// registration (and after every reveal), and the test that tells it, once audits are selected,
// whether an audit is one where it must publish a deliberately wrong transcript.
import { randomBytes } from "node:crypto";
import { hexToU8a, u8aConcat, u8aToHex } from "@polkadot/util";
import { blake2AsHex, blake2AsU8a } from "@polkadot/util-crypto";
import { hashArgument } from "./values.ts";

export interface ForcedErrorSecret {
  secret: string;
  /** blake2_256(secret): what goes on chain. */
  commitment: string;
}

export function newForcedErrorSecret(): ForcedErrorSecret {
  const secret = u8aToHex(randomBytes(32));
  return { secret, commitment: blake2AsHex(hexToU8a(secret), 256) };
}

function littleEndian(value: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let rest = value;
  for (let i = 0; i < bytes; i++) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

/** u32_le(blake2_256(secret ‖ seed ‖ task_id_le64 ‖ audit_index_le32)[0..4]) mod 10^6 < ppm. */
export function isForcedAudit(
  secret: string,
  seed: string,
  chainTaskId: bigint,
  auditIndex: number,
  forcedErrorPpm: number,
): boolean {
  const digest = blake2AsU8a(
    u8aConcat(
      hexToU8a(hashArgument(secret, "secret")),
      hexToU8a(hashArgument(seed, "seed")),
      littleEndian(chainTaskId, 8),
      littleEndian(BigInt(auditIndex), 4),
    ),
    256,
  );
  const draw = new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0, true);
  return draw % 1_000_000 < forcedErrorPpm;
}
