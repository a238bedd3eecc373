// Root calls, made through Sudo with the chain's sudo key: on the dev chain //Alice, in production
// a governance motion takes this place. The dev stack and tests use it to size the protocol's
// windows to the block time they run at; the referee role uses it to rule on disputes.
import type { ApiPromise } from "@polkadot/api";
import { computeCall, type ProtocolParameters, readParameters } from "./compute-state.ts";
import { connectChain } from "./connection.ts";
import type { DeliveryOutcome } from "./delivery-state.ts";
import { BridgeError } from "./errors.ts";
import { signerFromSeed } from "./signer.ts";
import { type Extrinsic, Submitter } from "./submitter.ts";
import { MemoryTransactionStore, type TxRecord } from "./transaction-store.ts";
import { hashArgument } from "./values.ts";

/**
 * Dispatches `call` as Root through Sudo, signed with `sudoSeed`; a refusal of the inner call (Sudid
 * with an error) is a DISPATCH_FAILED BridgeError naming `what`.
 */
async function asRoot(api: ApiPromise, sudoSeed: string, call: Extrinsic, what: string): Promise<TxRecord> {
  const sudo = api.tx.sudo?.sudo;
  if (!sudo) throw new BridgeError("RECONCILE_FAILED", "the chain has no Sudo pallet");
  const signer = await signerFromSeed(sudoSeed, api.registry.chainSS58 ?? 42);
  const submitter = new Submitter(api, signer, new MemoryTransactionStore());
  const record = await submitter.submit(
    { causeKey: `governance:${Date.now()}:${Math.random()}`, purpose: "Sudo.sudo" },
    sudo(call),
  );
  const sudid = record.events?.find((event) => event.pallet === "Sudo" && event.name === "Sudid");
  const result = sudid?.data.sudoResult as Record<string, unknown> | undefined;
  if (record.status === "failed" || !result || "err" in result || "Err" in result) {
    throw new BridgeError(
      "DISPATCH_FAILED",
      `the chain refused ${what}: ${record.error ?? JSON.stringify(result ?? null)}`,
    );
  }
  return record;
}

/** Changes some of `Compute.Parameters` (PROTOCOL.md §2), keeping the others as they are. */
export async function setProtocolParameters(
  url: string,
  sudoSeed: string,
  changes: Partial<ProtocolParameters>,
): Promise<ProtocolParameters> {
  const connection = await connectChain(url);
  try {
    const { api } = connection;
    const stored = (await api.query.compute!.parameters!()).toPrimitive() as Record<string, unknown>;
    await asRoot(
      api,
      sudoSeed,
      computeCall(api, "setParameters")({ ...stored, ...changes }),
      "the parameters",
    );
    return await readParameters(api);
  } finally {
    await connection.close();
  }
}

/**
 * The referee's ruling on a dispute at its turn (PROTOCOL.md §6.4): `output` is the hash of the
 * narrowed operator's correct output; the defender wins if it equals its claim.
 */
export function resolveDispute(
  api: ApiPromise,
  sudoSeed: string,
  disputeId: bigint,
  output: string,
): Promise<TxRecord> {
  const call = computeCall(api, "resolveDispute")(disputeId, hashArgument(output, "output"));
  return asRoot(api, sudoSeed, call, `the ruling on dispute ${disputeId}`);
}

/**
 * The referee's ruling on a delivery challenge (PROTOCOL.md §7): `Delivered` when every committed
 * leaf's checkpoint is on the data plane and forms the root (and any claim names the model the last
 * one gives); `Undelivered` or `FalseClaim` slash the worker and re-assign the task.
 */
export function ruleDelivery(
  api: ApiPromise,
  sudoSeed: string,
  chainTaskId: bigint,
  outcome: DeliveryOutcome,
): Promise<TxRecord> {
  const call = computeCall(api, "ruleDelivery")(chainTaskId, outcome);
  return asRoot(api, sudoSeed, call, `the ruling ${outcome} on the delivery of task ${chainTaskId}`);
}
