import { OnnxError } from "../onnx/errors.ts";
import type { ForwardGraph } from "./forward.ts";
import { gradientContext } from "./gradient-context.ts";
import { gradientRules, NON_DIFFERENTIABLE } from "./gradients.ts";

/**
 * Reverse-mode walk: nodes in reverse topological order, each output's gradient the sum of what
 * its consumers sent back, each node's rule emitting its inputs' gradients. Returns the gradient of
 * every tensor in `wrt` that the seeds reach.
 */
export function emitBackward(
  forward: ForwardGraph,
  seeds: Map<string, string>,
  wrt: ReadonlySet<string>,
): Map<string, string> {
  const { g, nodes, inferred } = forward;
  const requiresGrad = new Set(wrt);
  for (const node of nodes) {
    if (gradientRules[node.opType] === NON_DIFFERENTIABLE) continue;
    if (node.inputs.some((i) => requiresGrad.has(i)))
      for (const o of node.outputs) if (o) requiresGrad.add(o);
  }
  const pending = new Map<string, string[]>();
  for (const [name, grad] of seeds) pending.set(name, [grad]);
  const total = (name: string): string | undefined => {
    const parts = pending.get(name);
    if (!parts || parts.length === 0) return undefined;
    if (parts.length > 1) {
      const summed = g.scoped(`grad/${name}`, () => g.op("Sum", parts));
      pending.set(name, [summed]);
    }
    return pending.get(name)![0];
  };
  const info = (name: string) => {
    const known = inferred.infos.get(name);
    if (!known) throw new OnnxError("UNKNOWN_TENSOR", `no shape inferred for ${name}`);
    return known;
  };
  for (let n = nodes.length - 1; n >= 0; n--) {
    const node = nodes[n]!;
    const wants = node.inputs.map((i) => i !== "" && requiresGrad.has(i));
    if (!wants.some(Boolean)) continue;
    const dy = node.outputs.map((o) => (o ? total(o) : undefined));
    if (dy.every((d) => d === undefined)) continue;
    const rule = gradientRules[node.opType];
    if (rule === undefined) {
      throw new OnnxError("UNSUPPORTED_OPERATOR", `no gradient rule for ${node.opType}`, node.name);
    }
    if (rule === NON_DIFFERENTIABLE) continue;
    const context = gradientContext(g, node, info, dy, wants, (name) => inferred.values.get(name));
    const grads = g.scoped(`grad/${node.name}`, () => rule(context));
    grads.forEach((grad, i) => {
      const input = node.inputs[i];
      if (grad === undefined || !input || !wants[i]) return;
      const list = pending.get(input) ?? [];
      list.push(grad);
      pending.set(input, list);
    });
  }
  const result = new Map<string, string>();
  for (const name of wrt) {
    const grad = total(name);
    if (grad) result.set(name, grad);
  }
  return result;
}
