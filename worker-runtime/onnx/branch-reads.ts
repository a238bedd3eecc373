// An If's branches read tensors of the enclosing graph by name, beyond its one input (the
// condition): whoever orders or walks the graph before the branch is chosen must count them.
import type { INodeProto } from "./proto.ts";

/**
 * What an If reads from the enclosing graph through its branches (nested ones too): its inputs in
 * all but name, for whoever walks the graph before the branch is chosen.
 */
export function branchReads(node: INodeProto): string[] {
  if (node.opType !== "If" || (node.domain ?? "") !== "") return [];
  const reads = new Set<string>();
  for (const attribute of node.attribute ?? []) {
    const branch = attribute.g;
    if (!branch) continue;
    const inner = new Set([
      ...(branch.initializer ?? []).map((i) => i.name ?? ""),
      ...(branch.node ?? []).flatMap((n) => n.output ?? []),
    ]);
    const read = [
      ...(branch.node ?? []).flatMap((n) => [...(n.input ?? []), ...branchReads(n)]),
      ...(branch.output ?? []).map((o) => o.name ?? ""),
    ];
    for (const name of read) if (name && !inner.has(name)) reads.add(name);
  }
  return [...reads];
}
