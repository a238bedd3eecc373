import { gradientRules } from "../autodiff/gradients.ts";
import type { LoadedModel } from "./model.ts";
import { shapeRules } from "./shape-rules.ts";

export interface UnsupportedOperator {
  /** Operator type, with its domain when not the default one ("com.microsoft.FusedMatMul"). */
  opType: string;
  /** Names of the nodes using it, in graph order. */
  nodes: string[];
}

/** Operators this engine can both shape-infer and differentiate. */
export function isSupportedOperator(domain: string, opType: string): boolean {
  return domain === "" && opType in shapeRules && opType in gradientRules;
}

/** Every operator of the model without full support, each with the nodes that use it (empty: trainable). */
export function unsupportedOperators(model: LoadedModel): UnsupportedOperator[] {
  const byType = new Map<string, string[]>();
  for (const node of model.nodes) {
    if (isSupportedOperator(node.domain, node.opType)) continue;
    const key = node.domain ? `${node.domain}.${node.opType}` : node.opType;
    const list = byType.get(key) ?? [];
    list.push(node.name);
    byType.set(key, list);
  }
  return [...byType].map(([opType, nodes]) => ({ opType, nodes }));
}
