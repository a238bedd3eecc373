import assert from "node:assert/strict";
import { test } from "node:test";
import { onnxDataType } from "./dtypes.ts";
import { onnx } from "./proto.ts";

test("the protocol's data type codes are ONNX's", () => {
  const DataType = onnx.TensorProto.DataType;
  assert.deepEqual(onnxDataType, {
    float32: DataType.FLOAT,
    uint8: DataType.UINT8,
    int8: DataType.INT8,
    int32: DataType.INT32,
    int64: DataType.INT64,
    bool: DataType.BOOL,
    float64: DataType.DOUBLE,
  });
});
