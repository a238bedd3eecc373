// The tensor value every component exchanges: a data type, dimensions and a typed array of
// elements in row-major order. Data type codes are ONNX's TensorProto codes, fixed by the ONNX
// standard, so a checkpoint's bytes mean the same to the worker, the verifier and the platform.

export type DType = "float32" | "float64" | "int64" | "int32" | "int8" | "uint8" | "bool";

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface Tensor {
  dtype: DType;
  dims: number[];
  data: TensorData;
}

/** ONNX TensorProto.DataType codes (onnx.proto3: FLOAT = 1, UINT8 = 2, INT8 = 3, ...). */
export const onnxDataType: Readonly<Record<DType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
};

const dtypeByOnnx = new Map<number, DType>(
  Object.entries(onnxDataType).map(([dtype, code]) => [code, dtype as DType]),
);

export function dtypeFromOnnx(code: number): DType | undefined {
  return dtypeByOnnx.get(code);
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
