// author_*: submitting extrinsics, with or without watching their status.
import { u8aToHex } from "@polkadot/util";
import type { TransactionStatus } from "../node/transaction-pool.ts";
import { hexBytes } from "../runtime/runtime.ts";
import { type Connection, hexParam, type Node, type RpcNamespace } from "./context.ts";
import { submissionError } from "./errors.ts";

async function submit(node: Node, params: readonly unknown[]) {
  const bytes = hexBytes(hexParam(params, 0, "extrinsic"));
  try {
    return await node.pool.submit(bytes);
  } catch (error) {
    throw submissionError(error);
  }
}

/** The JSON of a TransactionStatus as Substrate sends it. */
function statusJson(status: TransactionStatus) {
  switch (status.kind) {
    case "inBlock":
      return { inBlock: status.block };
    case "finalized":
      return { finalized: status.block };
    case "invalid":
      return "invalid";
  }
}

export const authorRpc: RpcNamespace = {
  async author_submitExtrinsic(node, params) {
    return (await submit(node, params)).hash;
  },
  async author_submitAndWatchExtrinsic(node, params, connection: Connection) {
    const transaction = await submit(node, params);
    return connection.subscribe("author_extrinsicUpdate", (emit) => {
      emit("ready");
      return node.pool.watch(transaction.hash, (status) => emit(statusJson(status)));
    });
  },
  author_unwatchExtrinsic(_node, params, connection) {
    return typeof params[0] === "string" && connection.unsubscribe(params[0]);
  },
  author_pendingExtrinsics(node) {
    return node.pool.ready().map((transaction) => u8aToHex(transaction.bytes));
  },
};
