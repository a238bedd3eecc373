// The `swap-operator` fault's model: the user's graph with one operator computed the cheaper way
// a cheating worker might, and the same initializers, so its step-0 checkpoint is the honest one
// and only replaying its steps shows the difference.
import type { INodeProto } from "../onnx/proto.ts";
import { onnx } from "../onnx/proto.ts";
import { NodeError } from "./errors.ts";

// Veltkamp splitting: with c = 2^13 + 1, (c·x) − (c·x − x) is x rounded to 24 − 13 = 11
// significant bits, float16's precision, using float32 arithmetic only.
const SPLITTER = 2 ** 13 + 1;

/** Nodes computing `input` rounded to float16's 11 significant bits, ending in `output`. */
function roundToHalfPrecision(input: string, output: string): INodeProto[] {
  const name = (part: string) => `swap_operator/${part}`;
  const splitter = onnx.TensorProto.create({
    dataType: onnx.TensorProto.DataType.FLOAT,
    floatData: [SPLITTER],
  });
  return [
    {
      name: name("splitter"),
      opType: "Constant",
      output: [name("splitter")],
      attribute: [{ name: "value", type: onnx.AttributeProto.AttributeType.TENSOR, t: splitter }],
    },
    { name: name("scaled"), opType: "Mul", input: [input, name("splitter")], output: [name("scaled")] },
    { name: name("excess"), opType: "Sub", input: [name("scaled"), input], output: [name("excess")] },
    { name: name("rounded"), opType: "Sub", input: [name("scaled"), name("excess")], output: [output] },
  ];
}

/**
 * The model with every exact Gelu computed by its tanh approximation, or, without Gelu, the
 * first Gemm or MatMul on activations fed them rounded to float16 (a half-precision GEMM with float32
 * accumulation). A model with neither is refused: the fault has nothing to swap.
 */
export function swapOperator(model: Uint8Array): Uint8Array {
  const proto = onnx.ModelProto.decode(model);
  const graph = proto.graph!;
  const nodes = graph.node ?? [];
  const gelus = nodes.filter((n) => n.opType === "Gelu");
  if (gelus.length > 0) {
    for (const gelu of gelus) {
      gelu.attribute = [
        ...(gelu.attribute ?? []).filter((a) => a.name !== "approximate"),
        { name: "approximate", type: onnx.AttributeProto.AttributeType.STRING, s: Buffer.from("tanh") },
      ];
    }
    return onnx.ModelProto.encode(proto).finish();
  }
  // Activations, not a graph input: data such as pixel counts is often exact in float16 already.
  const graphInputs = new Set((graph.input ?? []).map((i) => i.name));
  const at = nodes.findIndex(
    (n) => (n.opType === "Gemm" || n.opType === "MatMul") && !graphInputs.has(n.input?.[0] ?? ""),
  );
  if (at < 0) {
    throw new NodeError(
      "FAULTS_REFUSED",
      "swap-operator needs a model with a Gelu, or a Gemm or MatMul on activations",
    );
  }
  const gemm = nodes[at]!;
  const input = gemm.input![0]!;
  const rounded = "swap_operator/input";
  gemm.input = [rounded, ...gemm.input!.slice(1)];
  graph.node = [...nodes.slice(0, at), ...roundToHalfPrecision(input, rounded), ...nodes.slice(at)].map((n) =>
    onnx.NodeProto.create(n),
  );
  return onnx.ModelProto.encode(proto).finish();
}

/**
 * The names of the user's nodes `swapOperator` computes differently: those whose encoding (operator,
 * inputs, attributes) it changes. The nodes it adds have no counterpart in the user's model.
 */
export function swappedNodeNames(model: Uint8Array): Set<string> {
  const encoded = (bytes: Uint8Array) =>
    new Map(
      (onnx.ModelProto.decode(bytes).graph?.node ?? []).map((n) => [
        n.name ?? "",
        Buffer.from(onnx.NodeProto.encode(n).finish()).toString("hex"),
      ]),
    );
  const honest = encoded(model);
  const swapped = encoded(swapOperator(model));
  return new Set([...honest].filter(([name, bytes]) => swapped.get(name) !== bytes).map(([name]) => name));
}
