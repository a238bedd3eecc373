// rpc_methods: the list of every method this node answers (clients only call what is listed).
import type { Node, RpcNamespace } from "./context.ts";

export function rpcNamespace(methodNames: (node: Node) => readonly string[]): RpcNamespace {
  return {
    rpc_methods: (node) => ({ methods: [...methodNames(node)].sort() }),
  };
}
