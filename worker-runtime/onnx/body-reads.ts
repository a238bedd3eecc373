// An If's branches and a Loop's body read tensors of the enclosing graph by name, beyond the
// node's own inputs: whoever orders or walks the graph before control flow is resolved must count
// them.
import type { INodeProto } from "./proto.ts";

/**
 * What an If or a Loop reads from the enclosing graph through its branches or body (nested ones
 * too): its inputs in all but name, for whoever walks the graph before control flow is resolved.
 */
export function bodyReads(node: INodeProto): string[] {
  if ((node.opType !== "If" && node.opType !== "Loop") || (node.domain ?? "") !== "") return [];
  const reads = new Set<string>();
  for (const attribute of node.attribute ?? []) {
    const branch = attribute.g;
    if (!branch) continue;
    const inner = new Set([
      ...(branch.input ?? []).map((i) => i.name ?? ""),
      ...(branch.initializer ?? []).map((i) => i.name ?? ""),
      ...(branch.node ?? []).flatMap((n) => n.output ?? []),
    ]);
    const read = [
      ...(branch.node ?? []).flatMap((n) => [...(n.input ?? []), ...bodyReads(n)]),
      ...(branch.output ?? []).map((o) => o.name ?? ""),
    ];
    for (const name of read) if (name && !inner.has(name)) reads.add(name);
  }
  return [...reads];
}
