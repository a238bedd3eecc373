// chain_*: block hashes, headers, blocks and head subscriptions (new, finalized, all).
import { u8aToHex } from "@polkadot/util";
import type { BlockRecord } from "../node/chain.ts";
import { headerJson } from "../node/header.ts";
import { type Connection, type Node, numberParam, optionalHexParam, type RpcNamespace } from "./context.ts";

function blockJson(block: BlockRecord) {
  return {
    block: { header: headerJson(block.header.fields), extrinsics: block.extrinsics.map((e) => u8aToHex(e)) },
    justifications: null,
  };
}

function byHash(node: Node, params: readonly unknown[]): BlockRecord | undefined {
  const hash = optionalHexParam(params, 0, "block hash");
  return hash === undefined ? node.chain.head : node.chain.block(hash);
}

function subscribeHeads(notification: string) {
  return (node: Node, _params: readonly unknown[], connection: Connection) =>
    connection.subscribe(notification, (emit) => {
      emit(headerJson(node.chain.head.header.fields));
      return node.chain.onBlock((block) => emit(headerJson(block.header.fields)));
    });
}

function subscribeFinalizedHeads(node: Node, _params: readonly unknown[], connection: Connection): string {
  return connection.subscribe("chain_finalizedHead", (emit) => {
    emit(headerJson(node.chain.finalized.header.fields));
    return node.chain.onFinalized((block) => emit(headerJson(block.header.fields)));
  });
}

function unsubscribe(_node: Node, params: readonly unknown[], connection: Connection): boolean {
  return typeof params[0] === "string" && connection.unsubscribe(params[0]);
}

function getFinalizedHead(node: Node): string {
  return node.chain.finalized.hash;
}

export const chainRpc: RpcNamespace = {
  chain_getBlockHash(node, params) {
    if (params[0] === undefined || params[0] === null) return node.chain.head.hash;
    return node.chain.block(numberParam(params, 0, "block number"))?.hash ?? null;
  },
  chain_getHeader(node, params) {
    const block = byHash(node, params);
    return block === undefined ? null : headerJson(block.header.fields);
  },
  chain_getBlock(node, params) {
    const block = byHash(node, params);
    return block === undefined ? null : blockJson(block);
  },
  chain_getFinalizedHead: getFinalizedHead,
  chain_getFinalisedHead: getFinalizedHead,
  chain_subscribeNewHeads: subscribeHeads("chain_newHead"),
  chain_subscribeNewHead: subscribeHeads("chain_newHead"),
  chain_unsubscribeNewHeads: unsubscribe,
  chain_unsubscribeNewHead: unsubscribe,
  chain_subscribeFinalizedHeads: subscribeFinalizedHeads,
  chain_subscribeFinalisedHeads: subscribeFinalizedHeads,
  chain_unsubscribeFinalizedHeads: unsubscribe,
  chain_unsubscribeFinalisedHeads: unsubscribe,
  chain_subscribeAllHeads: subscribeHeads("chain_allHead"),
  chain_unsubscribeAllHeads: unsubscribe,
};
