// chainSpec_v1_*: the chain specification's name, genesis hash and properties (the JSON-RPC
// interface spec's replacement for system_chain, chain_getBlockHash(0) and system_properties).
import type { RpcNamespace } from "./context.ts";
import { CHAIN_NAME, CHAIN_PROPERTIES } from "./system.ts";

export const chainSpecRpc: RpcNamespace = {
  chainSpec_v1_chainName: () => CHAIN_NAME,
  chainSpec_v1_genesisHash: (node) => node.chain.genesisHash,
  chainSpec_v1_properties: () => CHAIN_PROPERTIES,
};
