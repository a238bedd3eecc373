// Little-endian bytes -> typed arrays, shared by the safetensors and NumPy readers.
import { allocate, type DType, elementCount, type Tensor, tensorBytes } from "../../onnx/dtypes.ts";
import { TrainError } from "../errors.ts";
import type { ByteBudget } from "./limits.ts";

/** A size a file may give an axis: past 2^53 a product of sizes can no longer be checked exactly. */
export function isDimension(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Copies (never aliases) so the result is aligned and owns its buffer. */
export function tensorFromLittleEndian(
  dtype: DType,
  dims: number[],
  bytes: Uint8Array,
  where: string,
  budget: ByteBudget,
): Tensor {
  const expected = tensorBytes(dtype, dims);
  if (bytes.byteLength !== expected) {
    throw new TrainError(
      "INVALID_DATA",
      `${where}: ${bytes.byteLength} bytes of data, but shape [${dims.join(", ")}] of ${dtype} needs ${expected}`,
    );
  }
  budget.charge(expected, where);
  const data = allocate(dtype, elementCount(dims));
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
  if (dtype === "bool" && data.some((v) => v !== 0 && v !== 1)) {
    throw new TrainError("INVALID_DATA", `${where}: a bool tensor holds bytes other than 0 and 1`);
  }
  return { dtype, dims, data };
}
