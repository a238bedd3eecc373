// state_*: storage reads at any recent block, keys, runtime calls, metadata, runtime version and
// storage / runtime-version subscriptions.
import { u8aToHex } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import type { BlockRecord } from "../node/chain.ts";
import { hexBytes } from "../runtime/runtime.ts";
import { callRuntimeApi } from "../runtime/runtime-apis.ts";
import { RUNTIME_VERSION } from "../runtime/version.ts";
import {
  blockParam,
  type Connection,
  hexListParam,
  hexParam,
  type Node,
  numberParam,
  optionalHexParam,
  type RpcNamespace,
} from "./context.ts";
import { invalidParams, RpcError } from "./errors.ts";

const MAX_PAGED_KEYS = 1000;

function read(node: Node, block: BlockRecord, key: string): string | null {
  const value = node.chain.stateAt(block).get(key);
  return value === undefined ? null : u8aToHex(value);
}

function getStorage(node: Node, params: readonly unknown[]): string | null {
  return read(node, blockParam(node, params, 1), hexParam(params, 0, "storage key"));
}

function getRuntimeVersion(node: Node, params: readonly unknown[]) {
  blockParam(node, params, 0);
  return RUNTIME_VERSION;
}

function subscribeRuntimeVersion(_node: Node, _params: readonly unknown[], connection: Connection): string {
  return connection.subscribe("state_runtimeVersion", (emit) => {
    emit(RUNTIME_VERSION);
    return () => undefined;
  });
}

function unsubscribe(_node: Node, params: readonly unknown[], connection: Connection): boolean {
  return typeof params[0] === "string" && connection.unsubscribe(params[0]);
}

function changesAt(node: Node, block: BlockRecord, keys: readonly string[]) {
  return { block: block.hash, changes: keys.map((key) => [key, read(node, block, key)]) };
}

export const stateRpc: RpcNamespace = {
  state_getRuntimeVersion: getRuntimeVersion,
  chain_getRuntimeVersion: getRuntimeVersion,
  state_getMetadata(node, params) {
    blockParam(node, params, 0);
    return u8aToHex(node.chain.runtime.metadata.v14);
  },
  state_getStorage: getStorage,
  state_getStorageAt: getStorage,
  state_getStorageHash(node, params) {
    const value = getStorage(node, params);
    return value === null ? null : blake2AsHex(hexBytes(value), 256);
  },
  state_getStorageSize(node, params) {
    const value = getStorage(node, params);
    return value === null ? null : (value.length - 2) / 2;
  },
  state_getKeys(node, params) {
    const prefix = hexParam(params, 0, "key prefix");
    return node.chain.store.keysAt(prefix, blockParam(node, params, 1).number);
  },
  state_getKeysPaged(node, params) {
    const prefix = params[0] === null || params[0] === undefined ? "0x" : hexParam(params, 0, "key prefix");
    const count = numberParam(params, 1, "count");
    if (count > MAX_PAGED_KEYS) throw invalidParams(`count ${count} exceeds the limit of ${MAX_PAGED_KEYS}`);
    const startKey = optionalHexParam(params, 2, "start key");
    const keys = node.chain.store.keysAt(prefix, blockParam(node, params, 3).number);
    const after = startKey === undefined ? keys : keys.filter((key) => key > startKey);
    return after.slice(0, count);
  },
  state_queryStorageAt(node, params) {
    return [changesAt(node, blockParam(node, params, 1), hexListParam(params, 0, "keys"))];
  },
  state_queryStorage(node, params) {
    const keys = hexListParam(params, 0, "keys");
    const from = blockParam(node, params, 1);
    const to = blockParam(node, params, 2);
    const result = [changesAt(node, from, keys)];
    for (let number = from.number + 1; number <= to.number; number++) {
      const block = node.chain.block(number)!;
      const changed = keys.filter((key) => block.changes.has(key));
      if (changed.length > 0) result.push(changesAt(node, block, changed));
    }
    return result;
  },
  state_call(node, params) {
    const method = params[0];
    if (typeof method !== "string")
      throw invalidParams("method (parameter 1) must be a runtime API function name");
    const input = hexBytes(hexParam(params, 1, "call data"));
    const block = blockParam(node, params, 2);
    try {
      return u8aToHex(callRuntimeApi(node.chain.runtimeHost(block), method, input));
    } catch (error) {
      throw new RpcError(4003, `Client error: Execution failed: ${(error as Error).message}`);
    }
  },
  state_subscribeStorage(node, params, connection) {
    const keys = params[0] === undefined || params[0] === null ? [] : hexListParam(params, 0, "keys");
    return connection.subscribe("state_storage", (emit) => {
      if (keys.length > 0) emit(changesAt(node, node.chain.head, keys));
      return node.chain.onBlock((block) => {
        const changed =
          keys.length > 0 ? keys.filter((key) => block.changes.has(key)) : [...block.changes.keys()];
        if (changed.length > 0) emit(changesAt(node, block, changed));
      });
    });
  },
  state_unsubscribeStorage: unsubscribe,
  state_subscribeRuntimeVersion: subscribeRuntimeVersion,
  chain_subscribeRuntimeVersion: subscribeRuntimeVersion,
  state_unsubscribeRuntimeVersion: unsubscribe,
  chain_unsubscribeRuntimeVersion: unsubscribe,
};
