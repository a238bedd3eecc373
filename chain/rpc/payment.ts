// payment_*: the legacy fee RPCs (clients now use state_call TransactionPaymentApi_*), answered
// from the same runtime API functions.
import { u8aConcat, u8aToHex } from "@polkadot/util";
import { hexBytes } from "../runtime/runtime.ts";
import { callRuntimeApi } from "../runtime/runtime-apis.ts";
import { blockParam, hexParam, type Node, type RpcNamespace } from "./context.ts";
import { RpcError } from "./errors.ts";

function runtimeCall(node: Node, params: readonly unknown[], method: string, type: string): unknown {
  const extrinsic = hexBytes(hexParam(params, 0, "extrinsic"));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(extrinsic.length);
  const block = blockParam(node, params, 1);
  const runtime = node.chain.runtime;
  try {
    const output = callRuntimeApi(node.chain.runtimeHost(block), method, u8aConcat(extrinsic, length));
    return runtime.registry.createTypeUnsafe(type, [output]).toJSON();
  } catch (error) {
    throw new RpcError(
      4003,
      `Client error: Execution failed: ${(error as Error).message}`,
      u8aToHex(extrinsic),
    );
  }
}

export const paymentRpc: RpcNamespace = {
  payment_queryInfo: (node, params) =>
    runtimeCall(node, params, "TransactionPaymentApi_query_info", "RuntimeDispatchInfoV2"),
  payment_queryFeeDetails: (node, params) =>
    runtimeCall(node, params, "TransactionPaymentApi_query_fee_details", "FeeDetails"),
};
