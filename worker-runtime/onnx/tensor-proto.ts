import {
  allocate,
  type DType,
  dtypeFromOnnx,
  elementCount,
  onnxDataType,
  type Tensor,
  tensorBytes,
} from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import { type ITensorProto, type ProtoInt, protoInt } from "./proto.ts";

/** dtype, dims and element count, refusing what no tensor can be; nothing is allocated. */
function declared(proto: ITensorProto, where: string): { dtype: DType; dims: number[]; count: number } {
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
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new OnnxError("INVALID_MODEL", `dims [${dims}] are not sizes (whole numbers, 0 or more)`, where);
  }
  return { dtype, dims, count: elementCount(dims) };
}

/** The bytes tensorFromProto will allocate for this tensor. */
export function tensorProtoBytes(proto: ITensorProto, where: string): number {
  const { dtype, dims } = declared(proto, where);
  return tensorBytes(dtype, dims);
}

/**
 * Decodes an initializer or Constant value, from raw_data (little-endian) or the typed fields.
 * The data must match the dims before anything is allocated: dims are free to declare.
 */
export function tensorFromProto(proto: ITensorProto, where: string): Tensor {
  const { dtype, dims, count } = declared(proto, where);
  const raw = proto.rawData;
  if (raw && raw.length > 0) {
    if (raw.length !== tensorBytes(dtype, dims)) {
      throw new OnnxError(
        "INVALID_MODEL",
        `raw_data has ${raw.length} bytes, shape [${dims}] needs ${tensorBytes(dtype, dims)}`,
        where,
      );
    }
    const data = allocate(dtype, count);
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
  const data = allocate(dtype, count);
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
