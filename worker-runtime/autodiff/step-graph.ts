import { onnxDataType, type Tensor } from "../onnx/dtypes.ts";
import type { Dim, LoadedModel, TensorInfo } from "../onnx/model.ts";
import { type INodeProto, type IValueInfoProto, onnx } from "../onnx/proto.ts";
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
  const nodes = liveNodes(
    g.nodes,
    outputs.map((o) => o.name ?? ""),
  );
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  return onnx.ModelProto.encode({
    irVersion,
    producerName: "veritrain",
    opsetImport: [{ domain: "", version: g.opset }],
    graph: {
      name,
      node: nodes,
      input: inputs,
      output: outputs,
      initializer: [...initializers].filter(([n]) => used.has(n)).map(([n, t]) => tensorToProto(n, t)),
    },
  }).finish();
}

/** Drops nodes no graph output depends on (e.g. shape constants whose consumers were folded). */
function liveNodes(nodes: readonly INodeProto[], outputs: readonly string[]): INodeProto[] {
  const needed = new Set(outputs);
  const live: INodeProto[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (!(node.output ?? []).some((o) => needed.has(o))) continue;
    live.push(node);
    for (const input of node.input ?? []) needed.add(input);
  }
  return live.reverse();
}
