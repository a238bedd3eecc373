import type { DType, Tensor } from "../../protocol/tensor.ts";
import { allocate, elementCount } from "../../protocol/tensor.ts";

export {
  allocate,
  type DType,
  dtypeFromOnnx,
  elementCount,
  onnxDataType,
  type Tensor,
  type TensorData,
} from "../../protocol/tensor.ts";

export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** The bytes a tensor of this dtype and shape takes. */
export function tensorBytes(dtype: DType, dims: readonly number[]): number {
  return elementCount(dims) * BYTES_PER_ELEMENT[dtype];
}

export function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64";
}

/** Reads any tensor as plain numbers (int64 values beyond 2^53 lose precision; shapes never get there). */
export function tensorNumbers(tensor: Tensor): number[] {
  return Array.from(tensor.data as ArrayLike<number | bigint>, Number);
}

export function tensorFromNumbers(dtype: DType, dims: number[], values: readonly number[]): Tensor {
  const data = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    if (data instanceof BigInt64Array) data[i] = BigInt(Math.trunc(values[i]!));
    else data[i] = values[i]!;
  }
  return { dtype, dims, data };
}
