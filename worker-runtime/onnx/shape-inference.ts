import { isFloat, tensorNumbers } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import { foldRules, MAX_FOLDED_ELEMENTS } from "./fold-rules.ts";
import type { Dim, LoadedModel } from "./model.ts";
import { type KnownValue, shapeRules, type ValueInfo } from "./shape-rules.ts";

/**
 * The most elements one tensor may hold (4 GiB of float32). Sizes can be constants of the file, so
 * one node could otherwise make onnxruntime allocate more than the machine has, where the quote's
 * probe or a node builds the graph.
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 30;

export interface InferredGraph {
  /** dtype and shape of every tensor: inputs, initializers and node outputs. */
  infos: Map<string, ValueInfo>;
  /** Tensors whose value is known before running: Constant nodes, integer initializers, folded shape math. */
  values: Map<string, KnownValue>;
}

/**
 * Infers every tensor's shape. `inputShapes` overrides the declared input shapes, e.g. to pin a
 * symbolic batch dimension to the batch size.
 */
export function inferShapes(
  model: LoadedModel,
  inputShapes: ReadonlyMap<string, Dim[]> = new Map(),
): InferredGraph {
  const infos = new Map<string, ValueInfo>();
  const values = new Map<string, KnownValue>();
  for (const input of model.inputs) {
    infos.set(input.name, { dtype: input.dtype, shape: inputShapes.get(input.name) ?? input.shape });
  }
  for (const [name, tensor] of model.initializers) {
    infos.set(name, { dtype: tensor.dtype, shape: tensor.dims });
    // Float initializers are parameters: they change during training, so they are never folded.
    if (!isFloat(tensor.dtype) && tensor.data.length <= MAX_FOLDED_ELEMENTS) {
      values.set(name, { dtype: tensor.dtype, dims: tensor.dims, values: tensorNumbers(tensor) });
    }
  }
  let freshCount = 0;
  for (const node of model.nodes) {
    const rule = shapeRules[node.opType];
    if (!rule || node.domain !== "") {
      throw new OnnxError(
        "UNSUPPORTED_OPERATOR",
        `operator ${node.domain ? `${node.domain}.` : ""}${node.opType} is not supported`,
        node.name,
      );
    }
    const input = (i: number) => {
      const name = node.inputs[i];
      if (!name) return undefined;
      const info = infos.get(name);
      if (!info) throw new OnnxError("UNKNOWN_TENSOR", `input ${name} has no known type`, node.name);
      return info;
    };
    const value = (i: number) => {
      const name = node.inputs[i];
      return name ? values.get(name) : undefined;
    };
    const fresh = () => `${node.name}:d${freshCount++}`;
    const outputs = rule({ node, opset: model.opset, input, value, fresh });
    node.outputs.forEach((name, i) => {
      const info = outputs[i];
      if (!name || !info) return;
      // A symbolic dimension is sized by the data, whose own limits bound it.
      const elements = info.shape.reduce<number>((n, d) => n * (typeof d === "number" ? d : 1), 1);
      if (elements > MAX_TENSOR_ELEMENTS) {
        throw new OnnxError(
          "LIMIT_EXCEEDED",
          `${name} would hold ${elements} elements, shape [${info.shape.join(", ")}]; at most ${MAX_TENSOR_ELEMENTS} in one tensor`,
          node.name,
        );
      }
      infos.set(name, info);
    });
    const folded = foldRules[node.opType]?.({ node, input, value, outputs });
    folded?.forEach((v, i) => {
      const name = node.outputs[i];
      if (name && v.values.length <= MAX_FOLDED_ELEMENTS) values.set(name, v);
    });
  }
  return { infos, values };
}

export function isFullyKnown(value: KnownValue): boolean {
  return value.values.every((v) => typeof v === "number");
}
