import { onnx } from "./proto.ts";

export type DType = "float32" | "float64" | "int64" | "int32" | "int8" | "uint8" | "bool";

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface Tensor {
  dtype: DType;
  dims: number[];
  data: TensorData;
}

const DataType = onnx.TensorProto.DataType;

export const onnxDataType: Record<DType, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  int32: DataType.INT32,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  bool: DataType.BOOL,
};

const dtypeByOnnx = new Map<number, DType>(
  Object.entries(onnxDataType).map(([dtype, code]) => [code, dtype as DType]),
);

export function dtypeFromOnnx(code: number): DType | undefined {
  return dtypeByOnnx.get(code);
}

export function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64";
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function allocate(dtype: DType, length: number): TensorData {
  switch (dtype) {
    case "float32":
      return new Float32Array(length);
    case "float64":
      return new Float64Array(length);
    case "int64":
      return new BigInt64Array(length);
    case "int32":
      return new Int32Array(length);
    case "int8":
      return new Int8Array(length);
    case "uint8":
    case "bool":
      return new Uint8Array(length);
  }
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
