// The hashes of phase 2 of the pinpoint game (chain/PROTOCOL.md §6.3): `o_c`, the hash of the
// outputs of node c of the training-step graph in canonical tensor bytes, and the cumulative chain
// C_0 = blake2_256("vt/pinpoint" ‖ t_le), C_{c+1} = blake2_256(C_c ‖ o_c). The chain checks a
// defender's final claim with them, the dispute players bisect with them and the referee compares
// its one-operator result with them, so all three must compute them identically.
//
// Canonical bytes of a node's outputs (all integers little-endian):
//   u32 K, then K records, one per named output in the node's output order:
//   u8 ONNX TensorProto data type, u8 rank, rank x u64 dims, the elements in row-major order.
// o_c is the SHA-256 of these bytes, like a checkpoint leaf; for the pseudo-node N (the checkpoint
// assembly) o_N is the checkpoint leaf itself.
import { createHash } from "node:crypto";
import { endianness } from "node:os";
import { blake2AsU8a } from "@polkadot/util-crypto";
import { onnxDataType, type Tensor } from "./tensor.ts";

/** A value that cannot be hashed as an operator output (a data type outside protocol/tensor.ts). */
export class PinpointHashError extends Error {
  readonly code = "UNHASHABLE_OUTPUT";
}

const hexBytes = (hex: string) => Buffer.from(hex.replace(/^0x/, ""), "hex");
const prefixed = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString("hex")}`;

function u64Le(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return bytes;
}

/** The hex SHA-256 (no 0x) of the canonical bytes of one node's outputs, in the node's output order. */
export function operatorOutputsSha256(outputs: readonly Tensor[]): string {
  if (endianness() !== "LE") throw new PinpointHashError("output hashes need a little-endian host");
  const hash = createHash("sha256");
  const header = new DataView(new ArrayBuffer(4));
  header.setUint32(0, outputs.length, true);
  hash.update(new Uint8Array(header.buffer));
  for (const [i, tensor] of outputs.entries()) {
    const code = onnxDataType[tensor.dtype];
    if (code === undefined) throw new PinpointHashError(`output ${i} has data type ${tensor.dtype}`);
    const record = new DataView(new ArrayBuffer(2 + 8 * tensor.dims.length));
    record.setUint8(0, code);
    record.setUint8(1, tensor.dims.length);
    for (const [d, size] of tensor.dims.entries()) record.setBigUint64(2 + 8 * d, BigInt(size), true);
    hash.update(new Uint8Array(record.buffer));
    const { data } = tensor;
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest("hex");
}

/** C_0 of the operator bisection of step `step`: blake2_256("vt/pinpoint" ‖ step_le), 0x hex. */
export function cumulativeStart(step: bigint): string {
  return prefixed(blake2AsU8a(Buffer.concat([Buffer.from("vt/pinpoint"), u64Le(step)]), 256));
}

/** C_{c+1} = blake2_256(C_c ‖ o_c), 0x hex; either argument may carry a 0x prefix. */
export function cumulativeNext(previous: string, output: string): string {
  return prefixed(blake2AsU8a(Buffer.concat([hexBytes(previous), hexBytes(output)]), 256));
}

/** C_0 … C_{outputs.length} of step `step` over the node output hashes o_0, o_1, … */
export function cumulativeChain(step: bigint, outputs: readonly string[]): string[] {
  const chain = [cumulativeStart(step)];
  for (const output of outputs) chain.push(cumulativeNext(chain.at(-1)!, output));
  return chain;
}
