import { Attributes } from "./attributes.ts";
import { bodyReads } from "./body-reads.ts";
import { type DType, dtypeFromOnnx, type Tensor } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import {
  type INodeProto,
  type IValueInfoProto,
  type ModelProto,
  onnx,
  type ProtoInt,
  protoInt,
} from "./proto.ts";
import { tensorFromProto, tensorProtoBytes } from "./tensor-proto.ts";

/** A dimension: a number when static, a name when symbolic (e.g. "batch"). */
export type Dim = number | string;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: Dim[];
}

export interface GraphNode {
  /** Unique: the exporter's name, or `<opType>_<index>` when it had none. */
  name: string;
  opType: string;
  domain: string;
  /** "" marks an omitted optional input, as in ONNX. */
  inputs: string[];
  outputs: string[];
  attrs: Attributes;
  proto: INodeProto;
}

export interface LoadedModel {
  proto: ModelProto;
  opset: number;
  /** Graph inputs that are not initializers: the data the model is fed. */
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  initializers: Map<string, Tensor>;
  /** Topologically sorted. */
  nodes: GraphNode[];
}

export const MIN_OPSET = 13;
export const MAX_OPSET = 21;

/** What loading one model may cost: its graph is walked several times, its weights decoded. */
export interface ModelLimits {
  maxNodes: number;
  /** Decoded initializers, all together: typed arrays, outside the JS heap. */
  maxInitializerBytes: number;
}

/**
 * Exported transformers have a few thousand nodes; a model upload may be 200 MB, and an int64
 * initializer written as varints decodes to up to eight times its size on disk.
 */
export const MODEL_LIMITS: Readonly<ModelLimits> = {
  maxNodes: 50_000,
  maxInitializerBytes: 2 ** 30,
};

export function loadModel(bytes: Uint8Array, limits: ModelLimits = MODEL_LIMITS): LoadedModel {
  let proto: ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new OnnxError("INVALID_PROTOBUF", `not an ONNX ModelProto: ${(error as Error).message}`);
  }
  const graph = proto.graph;
  if (!graph) throw new OnnxError("INVALID_MODEL", "the model has no graph");
  const nodeCount = graph.node?.length ?? 0;
  if (nodeCount > limits.maxNodes) {
    throw new OnnxError(
      "LIMIT_EXCEEDED",
      `the graph has ${nodeCount} nodes; at most ${limits.maxNodes} accepted`,
    );
  }
  const opset = defaultOpset(proto);
  const initializers = new Map<string, Tensor>();
  let initializerBytes = 0;
  for (const init of graph.initializer ?? []) {
    const name = init.name ?? "";
    const where = `initializer ${name}`;
    initializerBytes += tensorProtoBytes(init, where);
    if (initializerBytes > limits.maxInitializerBytes) {
      throw new OnnxError(
        "LIMIT_EXCEEDED",
        `the initializers up to this one take ${initializerBytes} bytes decoded; at most ${limits.maxInitializerBytes} accepted`,
        where,
      );
    }
    initializers.set(name, tensorFromProto(init, where));
  }
  const inputs = (graph.input ?? [])
    .filter((v) => !initializers.has(v.name ?? ""))
    .map((v) => tensorInfo(v, "graph input"));
  const outputs = (graph.output ?? []).map((v) => tensorInfo(v, "graph output"));
  const available = new Set([...initializers.keys(), ...inputs.map((i) => i.name)]);
  const nodes = sortTopologically(
    (graph.node ?? []).map((n, index) => graphNode(n, index)),
    available,
  );
  const produced = new Set(nodes.flatMap((n) => n.outputs));
  for (const output of outputs) {
    if (!produced.has(output.name) && !available.has(output.name)) {
      throw new OnnxError("UNKNOWN_TENSOR", "graph output is produced by no node", output.name);
    }
  }
  return { proto, opset, inputs, outputs, initializers, nodes };
}

function defaultOpset(proto: ModelProto): number {
  const entry = (proto.opsetImport ?? []).find((o) => !o.domain || o.domain === "ai.onnx");
  const version = protoInt(entry?.version as ProtoInt | undefined);
  if (version < MIN_OPSET || version > MAX_OPSET) {
    throw new OnnxError(
      "UNSUPPORTED_OPSET",
      `default-domain opset ${version || "(none)"} is not supported; export with opset_version between ${MIN_OPSET} and ${MAX_OPSET}`,
    );
  }
  return version;
}

function tensorInfo(value: IValueInfoProto, role: string): TensorInfo {
  const name = value.name ?? "";
  const tensorType = value.type?.tensorType;
  if (!tensorType) throw new OnnxError("INVALID_MODEL", `${role} is not a tensor`, name);
  const dtype = dtypeFromOnnx(tensorType.elemType ?? 0);
  if (dtype === undefined) {
    throw new OnnxError(
      "UNSUPPORTED_DTYPE",
      `${role} has unsupported element type ${tensorType.elemType}`,
      name,
    );
  }
  const shape = (tensorType.shape?.dim ?? []).map((d, i): Dim => {
    if (d.dimParam) return d.dimParam;
    if (d.dimValue === null || d.dimValue === undefined) return `${name}_dim${i}`;
    const size = protoInt(d.dimValue as ProtoInt);
    // A size of 0 or less would price a job as free, and describes no tensor a model is fed.
    if (size < 1) {
      throw new OnnxError(
        "INVALID_MODEL",
        `${role} dimension ${i} is ${size}; a dimension is a positive size or a symbolic name`,
        name,
      );
    }
    return size;
  });
  return { name, dtype, shape };
}

export function graphNode(proto: INodeProto, index: number): GraphNode {
  const opType = proto.opType ?? "";
  const name = proto.name || `${opType}_${index}`;
  return {
    name,
    opType,
    domain: proto.domain === "ai.onnx" ? "" : (proto.domain ?? ""),
    inputs: proto.input ?? [],
    outputs: proto.output ?? [],
    attrs: new Attributes(proto.attribute ?? [], name),
    proto,
  };
}

/**
 * Kahn's algorithm, in linear time: each node waits on a count of its inputs not yet produced,
 * and producing a tensor counts down only the nodes that read it. Exporters already sort;
 * hand-written graphs may not, and a graph listed backwards must not cost a rescan per node.
 * Nodes are placed in rounds (those whose inputs the previous round completed), each round in
 * file order, so a graph sorts to the same order it always did.
 */
function sortTopologically(nodes: GraphNode[], available: Set<string>): GraphNode[] {
  const names = new Set<string>();
  for (const [index, node] of nodes.entries()) {
    if (names.has(node.name)) node.name = `${node.name}_${index}`;
    names.add(node.name);
  }
  const readers = new Map<string, number[]>();
  const reads = (node: GraphNode) => [...node.inputs, ...bodyReads(node.proto)];
  const waitingOn = nodes.map((node, index) => {
    const missing = new Set(reads(node).filter((i) => i !== "" && !available.has(i)));
    for (const tensor of missing) {
      const list = readers.get(tensor);
      if (list) list.push(index);
      else readers.set(tensor, [index]);
    }
    return missing.size;
  });
  const produced = new Set(available);
  const sorted: GraphNode[] = [];
  let round = nodes.flatMap((_, index) => (waitingOn[index] === 0 ? [index] : []));
  while (round.length > 0) {
    const next: number[] = [];
    for (const index of round) {
      const node = nodes[index]!;
      sorted.push(node);
      for (const output of node.outputs) {
        if (produced.has(output)) continue;
        produced.add(output);
        for (const reader of readers.get(output) ?? []) {
          if (--waitingOn[reader]! === 0) next.push(reader);
        }
      }
    }
    round = next.sort((a, b) => a - b);
  }
  if (sorted.length < nodes.length) {
    const stuck = nodes[waitingOn.findIndex((count) => count > 0)]!;
    const missing = reads(stuck).find((i) => i !== "" && !produced.has(i));
    throw new OnnxError("UNKNOWN_TENSOR", `input ${missing} is produced by no node (or a cycle)`, stuck.name);
  }
  return sorted;
}
