import type { Tensor } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import { type IAttributeProto, type IGraphProto, onnx, type ProtoInt, protoInt } from "./proto.ts";
import { tensorFromProto, tensorToProto } from "./tensor-proto.ts";

const AttributeType = onnx.AttributeProto.AttributeType;

/** Typed read access to a node's attributes, with the node name in every error. */
export class Attributes {
  private readonly byName: Map<string, IAttributeProto>;

  constructor(
    list: readonly IAttributeProto[],
    private readonly where: string,
  ) {
    this.byName = new Map(list.map((a) => [a.name ?? "", a]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  int(name: string, fallback: number): number {
    const a = this.byName.get(name);
    return a ? protoInt(a.i as ProtoInt) : fallback;
  }

  float(name: string, fallback: number): number {
    const a = this.byName.get(name);
    return a ? (a.f ?? 0) : fallback;
  }

  ints(name: string): number[] | undefined {
    const a = this.byName.get(name);
    return a ? (a.ints ?? []).map((v) => protoInt(v as ProtoInt)) : undefined;
  }

  string(name: string, fallback: string): string {
    const a = this.byName.get(name);
    return a?.s ? new TextDecoder().decode(a.s) : fallback;
  }

  tensor(name: string): Tensor | undefined {
    const a = this.byName.get(name);
    return a?.t ? tensorFromProto(a.t, `${this.where} attribute ${name}`) : undefined;
  }

  /** The attribute as stored, for value kinds (floats, value_ints, ...) read rarely. */
  raw(name: string): IAttributeProto | undefined {
    return this.byName.get(name);
  }

  require<T>(value: T | undefined, name: string): T {
    if (value === undefined)
      throw new OnnxError("INVALID_MODEL", `missing required attribute ${name}`, this.where);
    return value;
  }
}

export type AttributeValue =
  | number
  | number[]
  | string
  | Tensor
  | { float: number }
  | { floats: number[] }
  | { strings: string[] }
  | { graph: IGraphProto };

/** Builds an attribute proto; integers are INT, `{ float }` marks a float, `{ graph }` a subgraph (Loop's body). */
export function attribute(name: string, value: AttributeValue): IAttributeProto {
  if (typeof value === "number") return { name, type: AttributeType.INT, i: value };
  if (typeof value === "string")
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ("float" in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ("floats" in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  if ("strings" in value) {
    const strings = value.strings.map((v) => new TextEncoder().encode(v));
    return { name, type: AttributeType.STRINGS, strings };
  }
  if ("graph" in value) return { name, type: AttributeType.GRAPH, g: value.graph };
  return { name, type: AttributeType.TENSOR, t: tensorToProto("", value) };
}
