// safetensors (huggingface/safetensors): u64 little-endian header size, a JSON header mapping
// names to {dtype, shape, data_offsets} relative to the end of the header, then the raw bytes.
import type { DType, Tensor } from "../../onnx/dtypes.ts";
import { TrainError } from "../errors.ts";
import { tensorFromLittleEndian } from "./tensor-bytes.ts";

const DTYPES: Record<string, DType> = {
  F32: "float32",
  F64: "float64",
  I64: "int64",
  I32: "int32",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
};

const bad = (message: string) => new TrainError("INVALID_DATA", `safetensors: ${message}`);

export function readSafetensors(bytes: Uint8Array): Map<string, Tensor> {
  if (bytes.byteLength < 8) throw bad("the file is shorter than its 8-byte header size");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = Number(view.getBigUint64(0, true));
  if (8 + headerSize > bytes.byteLength) throw bad(`header size ${headerSize} runs past the end of the file`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerSize)));
  } catch (error) {
    throw bad(`the header is not JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header))
    throw bad("the header is not a JSON object");
  const body = bytes.subarray(8 + headerSize);
  const tensors = new Map<string, Tensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    const type = typeof dtype === "string" ? DTYPES[dtype] : undefined;
    if (!type) {
      throw new TrainError(
        "UNSUPPORTED_DATA_FORMAT",
        `safetensors tensor ${name}: dtype ${String(dtype)} is not supported; accepted: ${Object.keys(DTYPES).join(", ")}`,
      );
    }
    const validShape = Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0);
    const validOffsets =
      Array.isArray(offsets) &&
      offsets.length === 2 &&
      offsets.every((o) => Number.isInteger(o) && o >= 0) &&
      offsets[0] <= offsets[1] &&
      offsets[1] <= body.byteLength;
    if (!validShape || !validOffsets) throw bad(`tensor ${name} has an invalid shape or data_offsets`);
    tensors.set(
      name,
      tensorFromLittleEndian(
        type,
        shape,
        body.subarray(offsets[0], offsets[1]),
        `safetensors tensor ${name}`,
      ),
    );
  }
  return tensors;
}
