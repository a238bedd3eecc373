import { allocate, type DType, dtypeFromOnnx, elementCount, onnxDataType, type Tensor } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import { type ITensorProto, type ProtoInt, protoInt } from "./proto.ts";

/** Decodes an initializer or Constant value, from raw_data (little-endian) or the typed fields. */
export function tensorFromProto(proto: ITensorProto, where: string): Tensor {
  if ((proto.externalData?.length ?? 0) > 0 || proto.dataLocation === 1) {
    throw new OnnxError(
      "EXTERNAL_DATA",
      "tensors stored in external files are not accepted; embed the weights",
      where,
    );
  }
  const dtype = dtypeFromOnnx(proto.dataType ?? 0);
  if (dtype === undefined) {
    throw new OnnxError(
      "UNSUPPORTED_DTYPE",
      `tensor data type ${proto.dataType} is not supported (accepted: float32, float64, int64, int32, int8, uint8, bool)`,
      where,
    );
  }
  const dims = (proto.dims ?? []).map((d) => protoInt(d as ProtoInt));
  const count = elementCount(dims);
  const data = allocate(dtype, count);
  const raw = proto.rawData;
  if (raw && raw.length > 0) {
    if (raw.length !== count * data.BYTES_PER_ELEMENT) {
      throw new OnnxError(
        "INVALID_MODEL",
        `raw_data has ${raw.length} bytes, shape [${dims}] needs ${count * data.BYTES_PER_ELEMENT}`,
        where,
      );
    }
    // Copy first: raw_data may be unaligned inside the protobuf buffer.
    new Uint8Array(data.buffer).set(raw);
    return { dtype, dims, data };
  }
  const values = typedValues(proto, dtype);
  if (values.length !== count) {
    throw new OnnxError(
      "INVALID_MODEL",
      `tensor has ${values.length} values, shape [${dims}] needs ${count}`,
      where,
    );
  }
  for (let i = 0; i < count; i++) {
    const v = values[i] as ProtoInt;
    // Through a string: int64 sentinels such as INT64_MAX (Slice ends) do not survive a double.
    if (data instanceof BigInt64Array) data[i] = BigInt(String(v));
    else data[i] = protoInt(v);
  }
  return { dtype, dims, data };
}

function typedValues(proto: ITensorProto, dtype: DType): ArrayLike<unknown> {
  switch (dtype) {
    case "float32":
      return proto.floatData ?? [];
    case "float64":
      return proto.doubleData ?? [];
    case "int64":
      return proto.int64Data ?? [];
    default:
      return proto.int32Data ?? [];
  }
}

export function tensorToProto(name: string, tensor: Tensor): ITensorProto {
  const data = tensor.data;
  return {
    name,
    dataType: onnxDataType[tensor.dtype],
    dims: tensor.dims,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}
