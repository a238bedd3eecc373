// The runtime API functions served through state_call, one entry per "Api_method" name, each
// taking SCALE input and returning SCALE output exactly like the Wasm runtime's exports.
import { compactAddLength, u8aToU8a } from "@polkadot/util";
import type { ExecutionContext } from "./execution-context.ts";
import { accountNonce } from "./pallets/system.ts";
import { totalFee } from "./pallets/transaction-payment.ts";
import type { Runtime } from "./runtime.ts";
import { decodeExtrinsic, feeOf } from "./transaction-check.ts";
import { RUNTIME_VERSION } from "./version.ts";

export class RuntimeApiError extends Error {
  readonly code = "RuntimeApiError";
}

type RuntimeApiFunction = (runtime: Runtime, ctx: ExecutionContext, input: Uint8Array) => Uint8Array;

/** The extrinsic (SCALE, length-prefixed) and the u32 length the fee is computed for. */
function extrinsicAndLength(runtime: Runtime, input: Uint8Array) {
  const extrinsicLength = input.length - 4;
  const extrinsic = decodeExtrinsic(runtime, input.subarray(0, extrinsicLength));
  const length = Buffer.from(input.subarray(extrinsicLength)).readUInt32LE(0);
  const call = runtime.decodeCall(extrinsic.method.toU8a());
  return { extrinsic, length, call };
}

const RUNTIME_API_FUNCTIONS: Readonly<Record<string, RuntimeApiFunction>> = {
  Core_version: (runtime) => runtime.registry.createType("RuntimeVersion", RUNTIME_VERSION).toU8a(),
  Metadata_metadata: (runtime) => compactAddLength(runtime.metadata.bytes),
  AccountNonceApi_account_nonce: (runtime, ctx, input) => {
    const who = runtime.registry.createType("AccountId32", input).toString();
    return runtime.registry.createType("u32", accountNonce(ctx, who)).toU8a();
  },
  TransactionPaymentApi_query_info: (runtime, _ctx, input) => {
    const { extrinsic, length, call } = extrinsicAndLength(runtime, input);
    const { weight, fee } = feeOf(runtime, call, length);
    return runtime.registry
      .createType("RuntimeDispatchInfoV2", {
        weight: { refTime: weight, proofSize: 0 },
        class: "Normal",
        partialFee: extrinsic.isSigned ? totalFee(fee, 0n) : 0n,
      })
      .toU8a();
  },
  TransactionPaymentApi_query_fee_details: (runtime, _ctx, input) => {
    const { extrinsic, length, call } = extrinsicAndLength(runtime, input);
    const { fee } = feeOf(runtime, call, length);
    const details = runtime.registry.createType("FeeDetails", {
      inclusionFee: extrinsic.isSigned ? fee : null,
    });
    const tip = runtime.registry.createType("Balance", extrinsic.tip.toBigInt());
    return u8aToU8a([...details.toU8a(), ...tip.toU8a()]);
  },
};

export function callRuntimeApi(
  runtime: Runtime,
  ctx: ExecutionContext,
  method: string,
  input: Uint8Array,
): Uint8Array {
  const fn = RUNTIME_API_FUNCTIONS[method];
  if (fn === undefined) {
    throw new RuntimeApiError(
      `Exported method ${method} is not found; this runtime exports ${Object.keys(RUNTIME_API_FUNCTIONS).join(", ")}`,
    );
  }
  return fn(runtime, ctx, input);
}
