// onnx-proto is CommonJS: its one export is the protobufjs namespace `onnx`.
import onnxProto from "onnx-proto";

export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.ModelProto;
export type IModelProto = onnxProto.onnx.IModelProto;
export type IGraphProto = onnxProto.onnx.IGraphProto;
export type INodeProto = onnxProto.onnx.INodeProto;
export type ITensorProto = onnxProto.onnx.ITensorProto;
export type IAttributeProto = onnxProto.onnx.IAttributeProto;
export type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

/** protobufjs decodes int64 fields as Long objects when the `long` package is present. */
export type ProtoInt = number | { toNumber(): number };

export function protoInt(value: ProtoInt | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === "number" ? value : value.toNumber();
}
