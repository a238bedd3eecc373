// Funding accounts the dev chain did not endow at genesis: a local stack's node on a derived dev
// account (`veritrain up --fault` runs its whistleblower on one) gets its tokens from the operator's
// account before it starts, as the genesis accounts got theirs, so it can stake like the others.
import { readBalance } from "./compute-state.ts";
import { connectChain } from "./connection.ts";
import { BridgeError } from "./errors.ts";
import { signerFromSeed } from "./signer.ts";
import { Submitter } from "./submitter.ts";
import { MemoryTransactionStore } from "./transaction-store.ts";

/**
 * Tops each of `seeds`' accounts up to `amount` planck free, from `fromSeed`'s account; an account
 * holding that much already (a restarted stack) gets nothing.
 */
export async function fundAccounts(
  url: string,
  fromSeed: string,
  seeds: readonly string[],
  amount: bigint,
): Promise<void> {
  if (seeds.length === 0) return;
  const connection = await connectChain(url);
  try {
    const { api } = connection;
    const transfer = api.tx.balances?.transferKeepAlive;
    if (!transfer) throw new BridgeError("RECONCILE_FAILED", "the chain has no Balances pallet");
    const ss58 = api.registry.chainSS58 ?? 42;
    const submitter = new Submitter(api, await signerFromSeed(fromSeed, ss58), new MemoryTransactionStore());
    for (const seed of seeds) {
      const { address } = await signerFromSeed(seed, ss58);
      const { free } = await readBalance(api, address);
      if (free >= amount) continue;
      const record = await submitter.submit(
        { causeKey: `dev-funds:${address}:${Date.now()}`, purpose: "Balances.transfer_keep_alive" },
        transfer(address, amount - free),
      );
      if (record.status === "failed") {
        throw new BridgeError("DISPATCH_FAILED", `funding ${address} failed: ${record.error ?? "refused"}`);
      }
    }
  } finally {
    await connection.close();
  }
}
