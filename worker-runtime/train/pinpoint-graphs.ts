// The two rewrites of a training-step graph the pinpoint game needs (PROTOCOL.md §6.3-6.4): the
// whole graph with every node's output exposed, which the dispute players run to hash each node's
// outputs, and one node cut out as a graph of its own, which the referee runs on the agreed inputs.
// Both keep the node exactly as the step graph has it (operator, attributes, opset), so with graph
// optimisation off onnxruntime runs the same kernel on the same values.
import { onnxDataType, type Tensor } from "../onnx/dtypes.ts";
import { type INodeProto, type IValueInfoProto, onnx } from "../onnx/proto.ts";
import { tensorFromProto } from "../onnx/tensor-proto.ts";
import { TrainError } from "./errors.ts";

/** The step graph with every node output a graph output, and its nodes in topological order. */
export function exposeNodeOutputs(stepGraph: Uint8Array): { bytes: Uint8Array; nodes: INodeProto[] } {
  const proto = onnx.ModelProto.decode(stepGraph);
  const graph = proto.graph!;
  const declared = new Set((graph.output ?? []).map((o) => o.name));
  const exposed: IValueInfoProto[] = [];
  for (const node of graph.node ?? []) {
    for (const output of node.output ?? []) {
      if (output === "" || declared.has(output)) continue;
      declared.add(output);
      // No type: onnxruntime infers it, and an output's declared type would add nothing it checks.
      exposed.push({ name: output });
    }
  }
  graph.output = [...(graph.output ?? []), ...exposed];
  return { bytes: onnx.ModelProto.encode(proto).finish(), nodes: graph.node ?? [] };
}

/** The nodes of a step graph in topological order: node index c of the game is entry c. */
export function graphNodes(stepGraph: Uint8Array): INodeProto[] {
  return onnx.ModelProto.decode(stepGraph).graph?.node ?? [];
}

/**
 * The name of the user's model node a step-graph node computes: the step graph keeps the model's
 * node names for its forward part, except that onnxruntime names a node it fused from node X
 * `fused X` (an activation fused into Gemm or Conv) or `X/<Kind>Fusion/` (a transpose or scale
 * fused into MatMul, possibly repeated). Any other name (gradients, the optimizer) is returned as is.
 */
export function modelNodeName(stepNodeName: string): string {
  return stepNodeName.replace(/^(?:fused )+/, "").replace(/(?:\/\w*Fusion\/)+$/, "");
}

/** The step graph's constant tensors by name (folded constants, frozen weights). */
export function graphInitializers(stepGraph: Uint8Array): Map<string, Tensor> {
  const graph = onnx.ModelProto.decode(stepGraph).graph!;
  return new Map(
    (graph.initializer ?? []).map((init) => [
      init.name ?? "",
      tensorFromProto(init, `initializer ${init.name}`),
    ]),
  );
}

/** The named inputs of a node, in order, without the empty names of omitted optional inputs. */
export function nodeInputs(node: INodeProto): string[] {
  return (node.input ?? []).filter((name) => name !== "");
}

/**
 * Node `index` of the step graph alone: its inputs become graph inputs fed with `inputs` (every
 * named input of the node that is not one of the step graph's constants, which come along as
 * initializers), its outputs the graph outputs.
 */
export function singleNodeGraph(
  stepGraph: Uint8Array,
  index: number,
  inputs: ReadonlyMap<string, Tensor>,
): { bytes: Uint8Array; node: INodeProto; outputs: string[] } {
  const proto = onnx.ModelProto.decode(stepGraph);
  const graph = proto.graph!;
  const nodes = graph.node ?? [];
  const node = nodes[index];
  if (node === undefined) {
    throw new TrainError("INVALID_SPEC", `the step graph has nodes 0-${nodes.length - 1}; got ${index}`);
  }
  if ((node.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0)) {
    throw new TrainError(
      "INVALID_SPEC",
      `node ${index} (${node.opType}) has a subgraph and cannot run alone`,
    );
  }
  const constants = new Map((graph.initializer ?? []).map((init) => [init.name ?? "", init]));
  const fed: IValueInfoProto[] = [];
  const initializers = new Set<string>();
  for (const name of nodeInputs(node)) {
    if (constants.has(name)) {
      initializers.add(name);
      continue;
    }
    const value = inputs.get(name);
    if (!value) {
      throw new TrainError("INVALID_SPEC", `input ${name} of node ${index} (${node.opType}) has no value`, [
        { path: name, message: "missing from the operator's inputs" },
      ]);
    }
    if (!fed.some((f) => f.name === name)) fed.push(valueInfoOf(name, value));
  }
  const outputs = (node.output ?? []).filter((name) => name !== "");
  const bytes = onnx.ModelProto.encode({
    irVersion: proto.irVersion,
    producerName: "veritrain-referee",
    opsetImport: proto.opsetImport,
    graph: {
      name: `node_${index}`,
      node: [node],
      input: fed,
      output: outputs.map((name) => ({ name })),
      initializer: [...initializers].map((name) => constants.get(name)!),
    },
  }).finish();
  return { bytes, node, outputs };
}

function valueInfoOf(name: string, tensor: Tensor): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnxDataType[tensor.dtype],
        shape: { dim: tensor.dims.map((d) => ({ dimValue: d })) },
      },
    },
  };
}
