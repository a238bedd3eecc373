import { Attributes } from "./attributes.ts";
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
import { tensorFromProto } from "./tensor-proto.ts";

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

export function loadModel(bytes: Uint8Array): LoadedModel {
  let proto: ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new OnnxError("INVALID_PROTOBUF", `not an ONNX ModelProto: ${(error as Error).message}`);
  }
  const graph = proto.graph;
  if (!graph) throw new OnnxError("INVALID_MODEL", "the model has no graph");
  const opset = defaultOpset(proto);
  const initializers = new Map<string, Tensor>();
  for (const init of graph.initializer ?? []) {
    const name = init.name ?? "";
    initializers.set(name, tensorFromProto(init, `initializer ${name}`));
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
  for (const output of outputs) {
    if (!nodes.some((n) => n.outputs.includes(output.name)) && !available.has(output.name)) {
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
    if (d.dimValue !== null && d.dimValue !== undefined) return protoInt(d.dimValue as ProtoInt);
    return `${name}_dim${i}`;
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

/** Kahn's algorithm, stable in file order; exporters already sort, hand-written graphs may not. */
function sortTopologically(nodes: GraphNode[], available: Set<string>): GraphNode[] {
  const names = new Set<string>();
  for (const node of nodes) {
    if (names.has(node.name)) node.name = `${node.name}_${nodes.indexOf(node)}`;
    names.add(node.name);
  }
  const produced = new Set(available);
  const sorted: GraphNode[] = [];
  let pending = nodes;
  while (pending.length > 0) {
    const ready = pending.filter((n) => n.inputs.every((i) => i === "" || produced.has(i)));
    if (ready.length === 0) {
      const stuck = pending[0]!;
      const missing = stuck.inputs.find((i) => i !== "" && !produced.has(i));
      throw new OnnxError(
        "UNKNOWN_TENSOR",
        `input ${missing} is produced by no node (or a cycle)`,
        stuck.name,
      );
    }
    for (const node of ready) {
      sorted.push(node);
      for (const o of node.outputs) produced.add(o);
    }
    const readySet = new Set(ready);
    pending = pending.filter((n) => !readySet.has(n));
  }
  return sorted;
}
