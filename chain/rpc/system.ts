// system_*: node identity, chain properties (SS58 42, VT, 12 decimals), health and account nonces.
import { decodeAddress, encodeAddress } from "@polkadot/util-crypto";
import { TOKEN_DECIMALS, TOKEN_SYMBOL } from "../runtime/construct-runtime.ts";
import { SS58_PREFIX } from "../runtime/pallets/system.ts";
import type { RpcNamespace } from "./context.ts";
import { invalidParams } from "./errors.ts";

export const CHAIN_NAME = "Veritrain Development";
/** The chain specification's `properties`. */
export const CHAIN_PROPERTIES = {
  ss58Format: SS58_PREFIX,
  tokenDecimals: TOKEN_DECIMALS,
  tokenSymbol: TOKEN_SYMBOL,
} as const;
const NODE_NAME = "Veritrain devnet";
const NODE_VERSION = "0.1.0";
const PEER_ID = "12D3KooWVeritrainDevnetSingleNode";

export const systemRpc: RpcNamespace = {
  system_name: () => NODE_NAME,
  system_version: () => NODE_VERSION,
  system_chain: () => CHAIN_NAME,
  system_chainType: () => "Development",
  system_properties: () => CHAIN_PROPERTIES,
  system_health: () => ({ peers: 0, isSyncing: false, shouldHavePeers: false }),
  system_localPeerId: () => PEER_ID,
  system_localListenAddresses: () => [],
  system_nodeRoles: () => ["Authority"],
  system_peers: () => [],
  system_syncState: (node) => ({
    startingBlock: 0,
    currentBlock: node.chain.head.number,
    highestBlock: node.chain.head.number,
  }),
  system_accountNextIndex(node, params) {
    const address = params[0];
    let account: string;
    try {
      account = encodeAddress(decodeAddress(address as string), SS58_PREFIX);
    } catch {
      throw invalidParams(
        `account (parameter 1) must be an SS58 address or 0x account id, got ${JSON.stringify(address)}`,
      );
    }
    return node.pool.nextNonce(account);
  },
};
