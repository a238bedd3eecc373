// What the trainer can train: operators with both a shape rule (the ONNX layer's) and a gradient
// rule (this layer's). It lives beside the gradient table so the ONNX layer knows nothing of gradients.
import { bodyNodes, MAX_UNROLLED_NODES } from "../onnx/control-flow.ts";
import { type GraphNode, graphNode, type LoadedModel, MAX_OPSET, MIN_OPSET } from "../onnx/model.ts";
import { shapeRules } from "../onnx/shape-rules.ts";
import { gradientRules, NON_DIFFERENTIABLE } from "./gradients.ts";
import { gridSampleRestriction } from "./grid-sample.ts";
import { recurrentRestriction } from "./recurrent.ts";
import { trainingRewrites } from "./training-mode.ts";

export interface UnsupportedOperator {
  /**
   * Operator type, with its domain when not the default one ("com.microsoft.FusedMatMul"), and
   * the configuration when only that is unsupported ("Pad (mode=reflect)").
   */
  opType: string;
  /** Names of the nodes using it, in graph order. */
  nodes: string[];
}

/**
 * Operators this engine can both shape-infer and differentiate: by a gradient rule, or by the
 * training rewrite that spells them out in differentiable operators (LSTM, GRU, RNN).
 */
export function isSupportedOperator(domain: string, opType: string): boolean {
  return (
    domain === "" &&
    (Object.hasOwn(CHOSEN_BEFORE_BUILD, opType) ||
      (Object.hasOwn(shapeRules, opType) &&
        (Object.hasOwn(gradientRules, opType) || Object.hasOwn(trainingRewrites, opType))))
  );
}

/**
 * Operators that never reach the step graph: an If is replaced by the branch the data's shapes
 * pick, a Loop by its body once per iteration (onnx/control-flow.ts), before shapes, gradients or
 * prices are worked out.
 */
const CHOSEN_BEFORE_BUILD = {
  If: "a condition decided by shapes alone (`x.squeeze(d)` on a dimension the export left unknown); the branch it picks is trained",
  Loop: `a trip count decided by shapes alone and a condition that stays true (nn.EmbeddingBag on a 2-D input); unrolled, at most ${MAX_UNROLLED_NODES} nodes, no If or Loop in the body`,
};

/** Supported operators whose gradient covers only some configurations: the reason when outside. */
const restrictions = {
  Pad: (node) => {
    const mode = node.attrs.string("mode", "constant");
    return ["constant", "reflect", "edge"].includes(mode) ? undefined : `mode=${mode}`;
  },
  Einsum: (node) => (node.attrs.string("equation", "").includes(".") ? "ellipsis" : undefined),
  Resize: (node) => {
    const mode = node.attrs.string("mode", "nearest");
    const transform = node.attrs.string("coordinate_transformation_mode", "half_pixel");
    if (!["nearest", "linear", "cubic"].includes(mode)) return `mode=${mode}`;
    if (transform === "tf_crop_and_resize") return `coordinate_transformation_mode=${transform}`;
    if (node.attrs.int("antialias", 0) !== 0) return "antialias=1";
    const policy = node.attrs.string("keep_aspect_ratio_policy", "stretch");
    return policy === "stretch" ? undefined : `keep_aspect_ratio_policy=${policy}`;
  },
  ScatterElements: (node) => scatterReduction(node),
  ScatterND: (node) => scatterReduction(node),
  GatherND: (node) => (node.attrs.int("batch_dims", 0) === 0 ? undefined : "batch_dims>0"),
  GridSample: gridSampleRestriction,
  LSTM: recurrentRestriction,
  GRU: recurrentRestriction,
  RNN: recurrentRestriction,
} satisfies Record<string, (node: GraphNode) => string | undefined>;

/** What the restrictions above accept, in words, for the published operator list. */
const RESTRICTION_NOTES: Record<keyof typeof restrictions & string, string> = {
  Pad: "modes constant, reflect and edge (wrap is not)",
  Einsum: "equations without an ellipsis (...)",
  Resize:
    "nearest, linear or cubic modes, no antialias, keep_aspect_ratio_policy=stretch, not tf_crop_and_resize",
  GridSample: "bilinear or nearest, zeros or border padding (not bicubic, not reflection), 4-D input",
  ScatterElements: "reduction none or add",
  ScatterND: "reduction none or add",
  GatherND: "batch_dims=0",
  LSTM: "no peepholes, clip or input_forget; layout=0; standard activations",
  GRU: "no clip; layout=0; standard activations",
  RNN: "no clip; layout=0; standard activations",
};

export interface SupportedOperator {
  /** Default-domain (ai.onnx) operator type. */
  opType: string;
  /** The opsets a model using it may declare: the engine's whole range. */
  sinceOpset: number;
  untilOpset: number;
  /** False for operators no gradient flows through (Shape, Equal, ArgMax, ...): they are still trainable around. */
  differentiable: boolean;
  /** Configurations outside what the gradient covers, or null when all are supported. */
  restrictions: string | null;
}

/** Every operator a model may use, alphabetically: the list GET /v1/training/operators publishes. */
export function supportedOperatorTable(): SupportedOperator[] {
  return [...Object.keys(shapeRules), ...Object.keys(CHOSEN_BEFORE_BUILD)]
    .filter((opType) => isSupportedOperator("", opType))
    .sort()
    .map((opType) => ({
      opType,
      sinceOpset: MIN_OPSET,
      untilOpset: MAX_OPSET,
      differentiable: gradientRules[opType] !== NON_DIFFERENTIABLE,
      restrictions: Object.hasOwn(RESTRICTION_NOTES, opType)
        ? RESTRICTION_NOTES[opType as keyof typeof RESTRICTION_NOTES]
        : Object.hasOwn(CHOSEN_BEFORE_BUILD, opType)
          ? CHOSEN_BEFORE_BUILD[opType as keyof typeof CHOSEN_BEFORE_BUILD]
          : null,
    }));
}

function scatterReduction(node: GraphNode): string | undefined {
  const reduction = node.attrs.string("reduction", "none");
  return reduction === "none" || reduction === "add" ? undefined : `reduction=${reduction}`;
}

/** Every operator of the model without full support, each with the nodes that use it (empty: trainable). */
export function unsupportedOperators(model: LoadedModel): UnsupportedOperator[] {
  const byType = new Map<string, string[]>();
  const branches = bodyNodes(model.nodes.map((n) => n.proto)).map((proto, i) => graphNode(proto, i));
  for (const node of [...model.nodes, ...branches]) {
    // Op types are the uploader's strings: "__proto__" must not find Object.prototype here.
    const restricted = Object.hasOwn(restrictions, node.opType)
      ? restrictions[node.opType as keyof typeof restrictions](node)
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
