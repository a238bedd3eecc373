// Root calls, made through Sudo with the chain's sudo key: on the dev chain //Alice, in production
// a governance motion takes this place. The dev stack and tests use it to size the protocol's
// windows to the block time they run at.
import { computeCall, type ProtocolParameters, readParameters } from "./compute-state.ts";
import { connectChain } from "./connection.ts";
import { BridgeError } from "./errors.ts";
import { signerFromSeed } from "./signer.ts";
import { Submitter } from "./submitter.ts";
import { MemoryTransactionStore } from "./transaction-store.ts";

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
    const sudo = api.tx.sudo?.sudo;
    if (!sudo) throw new BridgeError("RECONCILE_FAILED", "the chain has no Sudo pallet");
    const call = sudo(computeCall(api, "setParameters")({ ...stored, ...changes }));
    const signer = await signerFromSeed(sudoSeed, api.registry.chainSS58 ?? 42);
    const submitter = new Submitter(api, signer, new MemoryTransactionStore());
    const record = await submitter.submit(
      { causeKey: `governance:${Date.now()}`, purpose: "Sudo.sudo" },
      call,
    );
    const sudid = record.events?.find((event) => event.pallet === "Sudo" && event.name === "Sudid");
    const result = sudid?.data.sudoResult as Record<string, unknown> | undefined;
    if (record.status === "failed" || !result || "err" in result || "Err" in result) {
      throw new BridgeError(
        "DISPATCH_FAILED",
        `the chain refused the parameters: ${record.error ?? JSON.stringify(result ?? null)}`,
      );
    }
    return await readParameters(api);
  } finally {
    await connection.close();
  }
}
