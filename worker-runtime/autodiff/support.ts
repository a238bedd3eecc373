// What the trainer can train: operators with both a shape rule (the ONNX layer's) and a gradient
// rule (this layer's). It lives beside the gradient table so the ONNX layer knows nothing of gradients.
import type { GraphNode, LoadedModel } from "../onnx/model.ts";
import { shapeRules } from "../onnx/shape-rules.ts";
import { gradientRules } from "./gradients.ts";

export interface UnsupportedOperator {
  /**
   * Operator type, with its domain when not the default one ("com.microsoft.FusedMatMul"), and
   * the configuration when only that is unsupported ("Pad (mode=reflect)").
   */
  opType: string;
  /** Names of the nodes using it, in graph order. */
  nodes: string[];
}

/** Operators this engine can both shape-infer and differentiate. */
export function isSupportedOperator(domain: string, opType: string): boolean {
  return domain === "" && Object.hasOwn(shapeRules, opType) && Object.hasOwn(gradientRules, opType);
}

/** Supported operators whose gradient covers only some configurations: the reason when outside. */
const restrictions: Record<string, (node: GraphNode) => string | undefined> = {
  Pad: (node) => {
    const mode = node.attrs.string("mode", "constant");
    return mode === "constant" ? undefined : `mode=${mode}`;
  },
  Einsum: (node) => (node.attrs.string("equation", "").includes(".") ? "ellipsis" : undefined),
};

/** Every operator of the model without full support, each with the nodes that use it (empty: trainable). */
export function unsupportedOperators(model: LoadedModel): UnsupportedOperator[] {
  const byType = new Map<string, string[]>();
  for (const node of model.nodes) {
    // Op types are the uploader's strings: "__proto__" must not find Object.prototype here.
    const restricted = Object.hasOwn(restrictions, node.opType)
      ? restrictions[node.opType]!(node)
      : undefined;
    if (isSupportedOperator(node.domain, node.opType) && restricted === undefined) continue;
    const name = node.domain ? `${node.domain}.${node.opType}` : node.opType;
    const key = restricted === undefined ? name : `${name} (${restricted})`;
    const list = byType.get(key) ?? [];
    list.push(node.name);
    byType.set(key, list);
  }
  return [...byType].map(([opType, nodes]) => ({ opType, nodes }));
}
