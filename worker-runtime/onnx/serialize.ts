import type { Tensor } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import type { LoadedModel } from "./model.ts";
import { type INodeProto, onnx } from "./proto.ts";
import { tensorToProto } from "./tensor-proto.ts";

/**
 * The original model with some initializers replaced (trained weights), serialized; `nodeForm`
 * rewrites each node (the inference form of a training-mode export).
 */
export function withInitializers(
  model: LoadedModel,
  values: ReadonlyMap<string, Tensor>,
  nodeForm: (node: INodeProto) => INodeProto = (node) => node,
): Uint8Array {
  for (const [name, tensor] of values) {
    const original = model.initializers.get(name);
    if (!original) throw new OnnxError("UNKNOWN_TENSOR", "not an initializer of the model", name);
    if (original.dtype !== tensor.dtype || original.dims.join(",") !== tensor.dims.join(",")) {
      throw new OnnxError(
        "SHAPE_MISMATCH",
        `new value is ${tensor.dtype}[${tensor.dims}], the model declares ${original.dtype}[${original.dims}]`,
        name,
      );
    }
  }
  // A deep copy through the wire format: the loaded proto stays untouched.
  const proto = onnx.ModelProto.decode(onnx.ModelProto.encode(model.proto).finish());
  const graph = proto.graph!;
  graph.initializer = (graph.initializer ?? []).map((init) => {
    const name = init.name ?? "";
    const replacement = values.get(name);
    return replacement ? onnx.TensorProto.create(tensorToProto(name, replacement)) : init;
  });
  graph.node = (graph.node ?? []).map((node) => onnx.NodeProto.create(nodeForm(node)));
  return onnx.ModelProto.encode(proto).finish();
}
