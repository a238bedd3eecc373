import type { DType, Tensor } from "../../protocol/tensor.ts";
import { allocate } from "../../protocol/tensor.ts";

export {
  allocate,
  type DType,
  dtypeFromOnnx,
  elementCount,
  onnxDataType,
  type Tensor,
  type TensorData,
} from "../../protocol/tensor.ts";

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
