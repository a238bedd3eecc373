// Exporters write shape arithmetic as control flow too: torch.onnx.export turns `x.squeeze(d)` on
// a dimension whose size it did not know into If(size == 1, Squeeze, Identity). Once the data fixes
// the shapes, such a condition is a constant, and the If is replaced by the branch it picks, so
// shape inference, gradients and pricing only ever see plain nodes. A condition that depends on
// the data's values is refused: a branch chosen per batch would change the graph mid-run.
import { isFloat, type Tensor } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import { type Dim, type GraphNode, graphNode, type LoadedModel } from "./model.ts";
import type { IGraphProto, INodeProto } from "./proto.ts";
import { inferShapes, isFullyKnown } from "./shape-inference.ts";
import { tensorFromProto } from "./tensor-proto.ts";

/** Each If costs one shape inference of the graph before it: a bound on what a model can ask. */
export const MAX_BRANCHES = 64;

const isIf = (node: GraphNode) => node.opType === "If" && node.domain === "";
const isIfProto = (node: INodeProto) => node.opType === "If" && (node.domain ?? "") === "";

/** The nodes of every If branch of `nodes`, nested ones included: what an upload check must see too. */
export function branchNodes(nodes: readonly INodeProto[]): INodeProto[] {
  return nodes.flatMap((node) =>
    isIfProto(node)
      ? (node.attribute ?? []).flatMap((a) => {
          const inner = a.g?.node ?? [];
          return [...inner, ...branchNodes(inner)];
        })
      : [],
  );
}

/**
 * `model` with every If replaced by the branch its condition picks at these input shapes (the
 * declared ones where `inputShapes` has none). Throws UNSUPPORTED_OPERATOR, naming the node, for a
 * condition known only when the graph runs.
 */
export function chooseBranches(
  model: LoadedModel,
  inputShapes: ReadonlyMap<string, Dim[]> = new Map(),
): LoadedModel {
  if (!model.nodes.some(isIf)) return model;
  const top = model.nodes.map((n) => n.proto);
  const total = [...top, ...branchNodes(top)].filter(isIfProto).length;
  if (total > MAX_BRANCHES) {
    throw new OnnxError(
      "LIMIT_EXCEEDED",
      `the graph has ${total} If nodes; at most ${MAX_BRANCHES} accepted`,
    );
  }
  let nodes = model.nodes;
  const initializers = new Map(model.initializers);
  for (let at = nodes.findIndex(isIf); at >= 0; at = nodes.findIndex(isIf)) {
    const node = nodes[at]!;
    const before = inferShapes({ ...model, initializers, nodes: nodes.slice(0, at) }, inputShapes);
    const condition = before.values.get(node.inputs[0] ?? "");
    if (!condition || !isFullyKnown(condition) || condition.values.length !== 1) {
      throw new OnnxError(
        "UNSUPPORTED_OPERATOR",
        `If: its condition ${node.inputs[0]} is known only when the graph runs (it depends on the data's values, not only on their shapes); only an If that shapes decide is supported`,
        node.name,
      );
    }
    const picked = condition.values[0] !== 0 ? "then_branch" : "else_branch";
    const branch = node.attrs.raw(picked)?.g;
    if (!branch) throw new OnnxError("INVALID_MODEL", `If has no ${picked}`, node.name);
    nodes = [...nodes.slice(0, at), ...inline(node, branch, initializers), ...nodes.slice(at + 1)];
  }
  return { ...model, initializers, nodes };
}

/**
 * The branch's nodes, named under the If's name so they collide with nothing, then one Identity
 * per branch output onto the If's output. Names from the enclosing graph keep theirs.
 */
function inline(node: GraphNode, branch: IGraphProto, initializers: Map<string, Tensor>): GraphNode[] {
  const local = new Map<string, string>();
  const scoped = (name: string) => `${node.name}/${name}`;
  for (const init of branch.initializer ?? []) {
    const name = init.name ?? "";
    const tensor = tensorFromProto(init, `${node.name} branch initializer ${name}`);
    // A float initializer would be a parameter that trains only while its branch is chosen.
    if (isFloat(tensor.dtype)) {
      throw new OnnxError(
        "UNSUPPORTED_OPERATOR",
        `If: a branch holds the float initializer ${name}`,
        node.name,
      );
    }
    local.set(name, scoped(name));
    initializers.set(scoped(name), tensor);
  }
  for (const inner of branch.node ?? [])
    for (const output of inner.output ?? []) if (output) local.set(output, scoped(output));
  const rename = (name: string) => local.get(name) ?? name;
  const renamed = (branch.node ?? []).map(
    (inner, i): INodeProto => ({
      ...inner,
      name: scoped(inner.name || `${inner.opType}_${i}`),
      input: (inner.input ?? []).map(rename),
      output: (inner.output ?? []).map(rename),
    }),
  );
  const outputs = branch.output ?? [];
  if (outputs.length !== node.outputs.length) {
    throw new OnnxError(
      "INVALID_MODEL",
      `If has ${node.outputs.length} outputs but its branch ${outputs.length}`,
      node.name,
    );
  }
  const joins = outputs.map(
    (output, i): INodeProto => ({
      name: scoped(`output_${i}`),
      opType: "Identity",
      input: [rename(output.name ?? "")],
      output: [node.outputs[i]!],
    }),
  );
  return [...renamed, ...joins].map((proto, i) => graphNode(proto, i));
}
