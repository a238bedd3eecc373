import { type AttributeValue, attribute } from "../onnx/attributes.ts";
import { type DType, type Tensor, tensorFromNumbers } from "../onnx/dtypes.ts";
import type { Dim } from "../onnx/model.ts";
import { type INodeProto, type IValueInfoProto, onnx } from "../onnx/proto.ts";
import { tensorToProto } from "../onnx/tensor-proto.ts";
import { valueInfo } from "./step-graph.ts";

/**
 * Writes small ONNX models in code, the way torch.onnx.export lays them out (inputs, initializers,
 * named nodes); tests and benchmarks use it so that they need no Python.
 */
export class ModelBuilder {
  private readonly nodes: INodeProto[] = [];
  private readonly inputs: IValueInfoProto[] = [];
  private readonly outputs: IValueInfoProto[] = [];
  private readonly initializers: ReturnType<typeof tensorToProto>[] = [];
  private count = 0;

  constructor(readonly opset = 17) {}

  input(name: string, dtype: DType, shape: Dim[]): string {
    this.inputs.push(valueInfo({ name, dtype, shape }));
    return name;
  }

  initializer(name: string, tensor: Tensor): string {
    this.initializers.push(tensorToProto(name, tensor));
    return name;
  }

  /** An initializer with values from a seeded generator, scaled like a default PyTorch init. */
  random(name: string, dtype: DType, dims: number[], random: () => number, scale = 1): string {
    const n = dims.reduce((a, b) => a * b, 1);
    return this.initializer(
      name,
      tensorFromNumbers(
        dtype,
        dims,
        Array.from({ length: n }, () => (random() * 2 - 1) * scale),
      ),
    );
  }

  node(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    outputCount = 1,
  ): string[] {
    const name = `/${opType}_${this.count++}`;
    const outputs = Array.from({ length: outputCount }, (_, i) => `${name}_output_${i}`);
    this.nodes.push({
      name,
      opType,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    return this.node(opType, inputs, attributes)[0]!;
  }

  constant(tensor: Tensor): string {
    return this.op("Constant", [], { value: tensor });
  }

  ints(values: number[]): string {
    return this.constant(tensorFromNumbers("int64", [values.length], values));
  }

  output(name: string, dtype: DType, shape?: Dim[]): void {
    this.outputs.push(valueInfo({ name, dtype, ...(shape ? { shape } : {}) }));
  }

  bytes(): Uint8Array {
    return onnx.ModelProto.encode({
      irVersion: 8,
      producerName: "veritrain-tests",
      opsetImport: [{ domain: "", version: this.opset }],
      graph: {
        name: "model",
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
    }).finish();
  }
}

/** mulberry32: a small seeded generator, so test models are the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
