// The pinpoint game's view of a training-step graph (PROTOCOL.md §6.3-6.4): its positions (a node,
// with the thread-layout helpers that serve it), and two rewrites — the whole graph with every
// node's output exposed, which the dispute players run to hash each position's outputs, and one
// position cut out as a graph of its own, which the referee runs on the agreed inputs. Both keep
// the nodes exactly as the step graph has them (operator, attributes, opset), so with graph
// optimisation off onnxruntime runs the same kernels on the same values.

import { LAYOUT_HELPER } from "../autodiff/graph-builder.ts";
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

/** The nodes of a step graph in topological order. */
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

/**
 * One position c of phase 2 (PROTOCOL.md §6.3): a node of the step graph together with the
 * thread-layout helpers that serve it (GraphBuilder.layoutHelper: the Reshape, Pad and Slice
 * around a bias-gradient sum that more intra-op threads pad onto onnxruntime's fast path). A
 * position without helpers is one node, as at one thread; with them it computes what the lone node
 * computes at one thread, so every profile of a task has the same positions, in the same order,
 * named after the same nodes, and N — the count the quote takes on the one-thread graph — holds for
 * all of them.
 */
export interface GamePosition {
  /** The node the position is named after: the served node. */
  node: INodeProto;
  /** The step graph's nodes the position runs, by index, in graph order. */
  members: number[];
  /** The values it reads from outside itself, in order of first use. */
  inputs: string[];
  /** The values it computes that anything outside it reads, or nothing reads: o_c hashes these. */
  outputs: string[];
}

/** The positions of a step graph in the game's order (the served nodes' graph order); N is their count. */
export function gamePositions(stepGraph: Uint8Array): GamePosition[] {
  const graph = onnx.ModelProto.decode(stepGraph).graph!;
  return positionsOf(graph.node ?? [], new Set((graph.output ?? []).map((o) => o.name ?? "")));
}

/** The game's positions of `nodes` (a step graph's, in graph order) whose graph outputs are `graphOutputs`. */
export function positionsOf(nodes: readonly INodeProto[], graphOutputs: ReadonlySet<string>): GamePosition[] {
  const index = new Map<string, number>();
  for (const [i, node] of nodes.entries()) if (!index.has(node.name ?? "")) index.set(node.name ?? "", i);
  // A helper's name is its served node's with the marker; a node of that name must exist and be no helper.
  const servedBy = (node: INodeProto): number | undefined => {
    const name = node.name ?? "";
    const at = name.indexOf(LAYOUT_HELPER);
    return at > 0 ? index.get(name.slice(0, at)) : undefined;
  };
  const groups = new Map<number, number[]>();
  for (const [i, node] of nodes.entries()) {
    const served = servedBy(node) ?? i;
    groups.set(served, [...(groups.get(served) ?? []), i]);
  }
  const readers = new Map<string, number[]>();
  for (const [i, node] of nodes.entries()) {
    for (const name of nodeInputs(node)) readers.set(name, [...(readers.get(name) ?? []), i]);
  }
  const positions = [...groups]
    .sort(([a], [b]) => a - b)
    .map(([served, members]): GamePosition => {
      const inside = new Set(members);
      const produced = new Set(members.flatMap((m) => namedOutputs(nodes[m]!)));
      const inputs = [
        ...new Set(members.flatMap((m) => nodeInputs(nodes[m]!)).filter((name) => !produced.has(name))),
      ];
      const outputs = [...produced].filter((name) => {
        const read = readers.get(name) ?? [];
        return graphOutputs.has(name) || read.length === 0 || read.some((r) => !inside.has(r));
      });
      return { node: nodes[served]!, members, inputs, outputs };
    });
  // Each position reads only what earlier ones computed, so the game's order is a topological one
  // and a referee can run any position alone on the outputs of those before it.
  const producer = new Map(positions.flatMap((p, c) => p.outputs.map((name): [string, number] => [name, c])));
  for (const [c, position] of positions.entries()) {
    const late = position.inputs.find((name) => (producer.get(name) ?? -1) >= c);
    if (late !== undefined) {
      throw new TrainError(
        "UNSUPPORTED_MODEL",
        `node ${position.node.name} reads ${late} before it is computed once thread-layout nodes are folded into the nodes they serve (a node name containing ${LAYOUT_HELPER}?)`,
      );
    }
  }
  return positions;
}

/** The named outputs of a node, in order, without the empty names of omitted optional outputs. */
export function namedOutputs(node: INodeProto): string[] {
  return (node.output ?? []).filter((name) => name !== "");
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
 * Position `index` of the step graph alone (gamePositions): its inputs become graph inputs fed with
 * `inputs` (every input that is not one of the step graph's constants, which come along as
 * initializers), its outputs the graph outputs. Mostly one node; a node with its thread-layout
 * helpers runs them too, as the step graph does.
 */
export function positionGraph(
  stepGraph: Uint8Array,
  index: number,
  inputs: ReadonlyMap<string, Tensor>,
): { bytes: Uint8Array; position: GamePosition } {
  const proto = onnx.ModelProto.decode(stepGraph);
  const graph = proto.graph!;
  const positions = positionsOf(graph.node ?? [], new Set((graph.output ?? []).map((o) => o.name ?? "")));
  const position = positions[index];
  if (position === undefined) {
    throw new TrainError(
      "INVALID_SPEC",
      `the step graph has positions 0-${positions.length - 1}; got ${index}`,
    );
  }
  const { node } = position;
  const nodes = position.members.map((m) => graph.node![m]!);
  if (nodes.some((n) => (n.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0))) {
    throw new TrainError(
      "INVALID_SPEC",
      `node ${index} (${node.opType}) has a subgraph and cannot run alone`,
    );
  }
  const constants = new Map((graph.initializer ?? []).map((init) => [init.name ?? "", init]));
  const fed: IValueInfoProto[] = [];
  const initializers: string[] = [];
  for (const name of position.inputs) {
    if (constants.has(name)) {
      initializers.push(name);
      continue;
    }
    const value = inputs.get(name);
    if (!value) {
      throw new TrainError("INVALID_SPEC", `input ${name} of node ${index} (${node.opType}) has no value`, [
        { path: name, message: "missing from the operator's inputs" },
      ]);
    }
    fed.push(valueInfoOf(name, value));
  }
  const bytes = onnx.ModelProto.encode({
    irVersion: proto.irVersion,
    producerName: "veritrain-referee",
    opsetImport: proto.opsetImport,
    graph: {
      name: `node_${index}`,
      node: nodes,
      input: fed,
      output: position.outputs.map((name) => ({ name })),
      initializer: initializers.map((name) => constants.get(name)!),
    },
  }).finish();
  return { bytes, position };
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
