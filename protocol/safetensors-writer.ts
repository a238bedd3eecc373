// Writes the safetensors format (huggingface/safetensors): a u64 little-endian header size, a JSON
// header mapping each name to {dtype, shape, data_offsets} relative to the end of the header, then
// the tensors' raw little-endian bytes laid end to end in header order. The header is padded with
// spaces to a multiple of 8 bytes, as the reference writer does, so readers can map the data aligned.

export type SafetensorsDType = "F32" | "F64" | "I64" | "I32" | "I8" | "U8" | "BOOL";

export interface RawTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Row-major little-endian bytes. */
  data: Uint8Array;
}

export function writeSafetensors(tensors: readonly RawTensor[]): Uint8Array {
  const header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> = {};
  let offset = 0;
  for (const tensor of tensors) {
    header[tensor.name] = {
      dtype: tensor.dtype,
      shape: tensor.shape,
      data_offsets: [offset, offset + tensor.data.byteLength],
    };
    offset += tensor.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLength);
  let at = 8 + headerLength;
  for (const tensor of tensors) {
    out.set(tensor.data, at);
    at += tensor.data.byteLength;
  }
  return out;
}
