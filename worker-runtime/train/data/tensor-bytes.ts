// Little-endian bytes -> typed arrays, shared by the safetensors and NumPy readers.
import { allocate, type DType, elementCount, type Tensor } from "../../onnx/dtypes.ts";
import { TrainError } from "../errors.ts";

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4,
  float64: 8,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** Copies (never aliases) so the result is aligned and owns its buffer. */
export function tensorFromLittleEndian(
  dtype: DType,
  dims: number[],
  bytes: Uint8Array,
  where: string,
): Tensor {
  const count = elementCount(dims);
  const expected = count * BYTES_PER_ELEMENT[dtype];
  if (bytes.byteLength !== expected) {
    throw new TrainError(
      "INVALID_DATA",
      `${where}: ${bytes.byteLength} bytes of data, but shape [${dims.join(", ")}] of ${dtype} needs ${expected}`,
    );
  }
  const data = allocate(dtype, count);
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
  if (dtype === "bool" && data.some((v) => v !== 0 && v !== 1)) {
    throw new TrainError("INVALID_DATA", `${where}: a bool tensor holds bytes other than 0 and 1`);
  }
  return { dtype, dims, data };
}
