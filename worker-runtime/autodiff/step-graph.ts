import { onnxDataType, type Tensor } from "../onnx/dtypes.ts";
import type { Dim, LoadedModel, TensorInfo } from "../onnx/model.ts";
import { type IValueInfoProto, onnx } from "../onnx/proto.ts";
import { tensorToProto } from "../onnx/tensor-proto.ts";
import type { GraphBuilder } from "./graph-builder.ts";

export function valueInfo(info: {
  name: string;
  dtype: TensorInfo["dtype"];
  shape?: readonly Dim[];
}): IValueInfoProto {
  return {
    name: info.name,
    type: {
      tensorType: {
        elemType: onnxDataType[info.dtype],
        shape: info.shape
          ? { dim: info.shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) }
          : null,
      },
    },
  };
}

/** Serializes a step graph: the builder's nodes, the given inputs/outputs and initializers. */
export function serializeStepGraph(
  model: LoadedModel,
  g: GraphBuilder,
  name: string,
  inputs: IValueInfoProto[],
  outputs: IValueInfoProto[],
  initializers: Map<string, Tensor>,
): Uint8Array {
  const irVersion = Math.max(8, Number(model.proto.irVersion ?? 8));
  return onnx.ModelProto.encode({
    irVersion,
    producerName: "veritrain",
    opsetImport: [{ domain: "", version: g.opset }],
    graph: {
      name,
      node: g.nodes,
      input: inputs,
      output: outputs,
      initializer: [...initializers].map(([n, t]) => tensorToProto(n, t)),
    },
  }).finish();
}
