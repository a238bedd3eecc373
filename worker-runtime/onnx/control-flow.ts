// Exporters write shape arithmetic as control flow too: torch.onnx.export turns `x.squeeze(d)` on
// a dimension whose size it did not know into If(size == 1, Squeeze, Identity), and
// nn.EmbeddingBag into a Loop over the bags. Once the data fixes the shapes, an If's condition is
// a constant and a Loop's trip count is a number: the If is replaced by the branch it picks and
// the Loop by its body once per iteration, so shape inference, gradients and pricing only ever see
// plain nodes. A condition or a count that depends on the data's values is refused: a graph chosen
// per batch would change mid-run.
import { isFloat, type Tensor, tensorFromNumbers } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import { type Dim, type GraphNode, graphNode, type LoadedModel } from "./model.ts";
import type { IGraphProto, INodeProto } from "./proto.ts";
import { type InferredGraph, inferShapes, isFullyKnown } from "./shape-inference.ts";
import { tensorFromProto } from "./tensor-proto.ts";

/** Each If or Loop costs one shape inference of the graph before it: a bound on what a model can ask. */
export const MAX_CONTROL_FLOW = 64;

/** The most nodes unrolling may add: a hostile trip count must not exhaust memory. */
export const MAX_UNROLLED_NODES = 20_000;

const isControl = (opType: string, domain: string) => (opType === "If" || opType === "Loop") && domain === "";
const isControlNode = (node: GraphNode) => isControl(node.opType, node.domain);
const isControlProto = (node: INodeProto) => isControl(node.opType ?? "", node.domain ?? "");

/** The nodes of every If branch and Loop body of `nodes`, nested ones included: what an upload check must see too. */
export function bodyNodes(nodes: readonly INodeProto[]): INodeProto[] {
  return nodes.flatMap((node) =>
    isControlProto(node)
      ? (node.attribute ?? []).flatMap((a) => {
          const inner = a.g?.node ?? [];
          return [...inner, ...bodyNodes(inner)];
        })
      : [],
  );
}

/**
 * `model` with every If replaced by the branch its condition picks, and every Loop unrolled, at
 * these input shapes (the declared ones where `inputShapes` has none). Throws
 * UNSUPPORTED_OPERATOR, naming the node, for a condition or count known only when the graph runs.
 */
export function resolveControlFlow(
  model: LoadedModel,
  inputShapes: ReadonlyMap<string, Dim[]> = new Map(),
): LoadedModel {
  if (!model.nodes.some(isControlNode)) return model;
  let nodes = model.nodes;
  const initializers = new Map(model.initializers);
  const mustHold: Array<{ condition: string; loop: string }> = [];
  let resolved = 0;
  let unrolled = 0;
  for (let at = nodes.findIndex(isControlNode); at >= 0; at = nodes.findIndex(isControlNode)) {
    if (++resolved > MAX_CONTROL_FLOW) {
      throw new OnnxError(
        "LIMIT_EXCEEDED",
        `the graph has more than ${MAX_CONTROL_FLOW} If and Loop nodes to resolve; at most ${MAX_CONTROL_FLOW} accepted`,
      );
    }
    const node = nodes[at]!;
    const before = inferShapes({ ...model, initializers, nodes: nodes.slice(0, at) }, inputShapes);
    let replacement: INodeProto[];
    if (node.opType === "If") {
      replacement = chooseBranch(node, before, initializers);
    } else {
      const loop = unroll(node, before, initializers, MAX_UNROLLED_NODES - unrolled);
      replacement = loop.nodes;
      unrolled += loop.nodes.length;
      mustHold.push(...loop.conditions.map((condition) => ({ condition, loop: node.name })));
    }
    nodes = [
      ...nodes.slice(0, at),
      ...replacement.map((proto, i) => graphNode(proto, i)),
      ...nodes.slice(at + 1),
    ];
  }
  if (mustHold.length > 0) {
    const { values } = inferShapes({ ...model, initializers, nodes }, inputShapes);
    for (const { condition, loop } of mustHold) {
      const value = values.get(condition);
      if (!value || !isFullyKnown(value) || value.values[0] === 0) {
        throw new OnnxError(
          "UNSUPPORTED_OPERATOR",
          `Loop: its body's condition ${condition} may stop it before its trip count (it is not known to stay true); only a Loop that runs its whole count is supported`,
          loop,
        );
      }
    }
  }
  return { ...model, initializers, nodes };
}

/** A scalar the graph before a node fixes, or undefined. */
function knownScalar(before: InferredGraph, name: string | undefined): number | undefined {
  const value = name ? before.values.get(name) : undefined;
  if (!value || !isFullyKnown(value) || value.values.length !== 1) return undefined;
  return value.values[0] as number;
}

function chooseBranch(
  node: GraphNode,
  before: InferredGraph,
  initializers: Map<string, Tensor>,
): INodeProto[] {
  const condition = knownScalar(before, node.inputs[0]);
  if (condition === undefined) {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      `If: its condition ${node.inputs[0]} is known only when the graph runs (it depends on the data's values, not only on their shapes); only an If that shapes decide is supported`,
      node.name,
    );
  }
  const picked = condition !== 0 ? "then_branch" : "else_branch";
  const branch = node.attrs.raw(picked)?.g;
  if (!branch) throw new OnnxError("INVALID_MODEL", `If has no ${picked}`, node.name);
  const outputs = branch.output ?? [];
  if (outputs.length !== node.outputs.length) {
    throw new OnnxError(
      "INVALID_MODEL",
      `If has ${node.outputs.length} outputs but its branch ${outputs.length}`,
      node.name,
    );
  }
  const copy = copyBody(node, branch, node.name, new Map(), initializers);
  const joins = outputs.map((output, i) =>
    identity(`${node.name}/output_${i}`, copy.rename(output.name ?? ""), node.outputs[i]!),
  );
  return [...copy.nodes, ...joins];
}

/**
 * The Loop's body once per iteration (onnx Loop: body inputs iteration number, condition, carried
 * values; outputs condition, carried values, scan outputs), the carried values threaded from one
 * copy to the next and each scan output stacked on a new first axis. Returns the body conditions
 * that must hold for the count to run out (all but the last iteration's).
 */
function unroll(
  node: GraphNode,
  before: InferredGraph,
  initializers: Map<string, Tensor>,
  room: number,
): { nodes: INodeProto[]; conditions: string[] } {
  const body = node.attrs.raw("body")?.g;
  if (!body) throw new OnnxError("INVALID_MODEL", "Loop has no body", node.name);
  const count = knownScalar(before, node.inputs[0]);
  if (count === undefined) {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      `Loop: its trip count ${node.inputs[0] || "(none)"} is known only when the graph runs (it depends on the data's values, not only on their shapes, as nn.EmbeddingBag's does with offsets from the data); only a Loop whose count the shapes decide is supported`,
      node.name,
    );
  }
  const start = node.inputs[1] ? knownScalar(before, node.inputs[1]) : 1;
  if (start === undefined || start === 0) {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      `Loop: its condition ${node.inputs[1]} is not known to be true before the first iteration`,
      node.name,
    );
  }
  if (!Number.isInteger(count) || count < 1) {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      `Loop runs ${count} times; at least 1 is supported`,
      node.name,
    );
  }
  const bodySize = (body.node ?? []).length + 2;
  if (count * bodySize > room) {
    throw new OnnxError(
      "LIMIT_EXCEEDED",
      `Loop: ${count} iterations of a body of ${bodySize - 2} nodes exceed the ${MAX_UNROLLED_NODES} nodes unrolling may add`,
      node.name,
    );
  }
  if ((body.node ?? []).some(isControlProto)) {
    throw new OnnxError("UNSUPPORTED_OPERATOR", "Loop: its body holds an If or a Loop", node.name);
  }
  const names = (list: Array<{ name?: string | null }> | null | undefined) =>
    (list ?? []).map((v) => v.name ?? "");
  const [iterationInput = "", conditionInput = "", ...carriedInputs] = names(body.input);
  const [conditionOutput = "", ...results] = names(body.output);
  const carriedCount = node.inputs.length - 2;
  const scanOutputs = results.slice(carriedCount);
  if (carriedInputs.length !== carriedCount || node.outputs.length !== carriedCount + scanOutputs.length) {
    throw new OnnxError(
      "INVALID_MODEL",
      `Loop has ${carriedCount} carried values and ${node.outputs.length} outputs, its body ${carriedInputs.length} carried inputs and ${results.length} outputs`,
      node.name,
    );
  }
  const nodes: INodeProto[] = [];
  const conditions: string[] = [];
  const scans: string[][] = scanOutputs.map(() => []);
  let carried = node.inputs.slice(2);
  let condition = node.inputs[1] ?? "";
  if (!condition) {
    condition = `${node.name}/true`;
    initializers.set(condition, tensorFromNumbers("bool", [], [1]));
  }
  for (let i = 0; i < count; i++) {
    const scope = `${node.name}/${i}`;
    const iteration = `${scope}/iteration`;
    initializers.set(iteration, tensorFromNumbers("int64", [], [i]));
    const bound = new Map([
      [iterationInput, iteration],
      [conditionInput, condition],
      ...carriedInputs.map((name, j): [string, string] => [name, carried[j]!]),
    ]);
    const copy = copyBody(node, body, scope, bound, initializers);
    nodes.push(...copy.nodes);
    condition = copy.rename(conditionOutput);
    if (i < count - 1) conditions.push(condition);
    carried = results.slice(0, carriedCount).map(copy.rename);
    scanOutputs.forEach((name, k) => {
      const stacked = `${scope}/stacked_${k}`;
      nodes.push({
        name: stacked,
        opType: "Unsqueeze",
        input: [copy.rename(name), `${node.name}/axis_0`],
        output: [stacked],
      });
      scans[k]!.push(stacked);
    });
  }
  initializers.set(`${node.name}/axis_0`, tensorFromNumbers("int64", [1], [0]));
  const finals = carried.map((name, j) => identity(`${node.name}/output_${j}`, name, node.outputs[j]!));
  const stacks = scans.map(
    (parts, k): INodeProto => ({
      name: `${node.name}/scan_${k}`,
      opType: "Concat",
      input: parts,
      output: [node.outputs[carriedCount + k]!],
      attribute: [{ name: "axis", type: 2, i: 0 }],
    }),
  );
  return { nodes: [...nodes, ...finals, ...stacks], conditions };
}

const identity = (name: string, from: string, to: string): INodeProto => ({
  name,
  opType: "Identity",
  input: [from],
  output: [to],
});

/**
 * A body's nodes named under `scope` so they collide with nothing: its own outputs and
 * initializers renamed, the names in `bound` (a Loop body's inputs) replaced, and names of the
 * enclosing graph kept.
 */
function copyBody(
  node: GraphNode,
  body: IGraphProto,
  scope: string,
  bound: ReadonlyMap<string, string>,
  initializers: Map<string, Tensor>,
): { nodes: INodeProto[]; rename: (name: string) => string } {
  const local = new Map(bound);
  const scoped = (name: string) => `${scope}/${name}`;
  for (const init of body.initializer ?? []) {
    const name = init.name ?? "";
    const tensor = tensorFromProto(init, `${node.name} body initializer ${name}`);
    // A float initializer would be a parameter that trains only while its branch is chosen.
    if (isFloat(tensor.dtype)) {
      throw new OnnxError(
        "UNSUPPORTED_OPERATOR",
        `${node.opType}: a body holds the float initializer ${name}`,
        node.name,
      );
    }
    local.set(name, scoped(name));
    initializers.set(scoped(name), tensor);
  }
  for (const inner of body.node ?? [])
    for (const output of inner.output ?? []) if (output) local.set(output, scoped(output));
  const rename = (name: string) => (name ? (local.get(name) ?? name) : name);
  const nodes = (body.node ?? []).map(
    (inner, i): INodeProto => ({
      ...inner,
      name: scoped(inner.name || `${inner.opType}_${i}`),
      input: (inner.input ?? []).map(rename),
      output: (inner.output ?? []).map(rename),
    }),
  );
  return { nodes, rename };
}
