// rpc_methods: the list of every method this node answers (clients only call what is listed).
import type { RpcNamespace } from "./context.ts";

export function rpcNamespace(methodNames: () => readonly string[]): RpcNamespace {
  return {
    rpc_methods: () => ({ methods: [...methodNames()].sort() }),
  };
}
