// Staking on chain before a node asks for work: the chain only assigns tasks and audits to
// nodes bonded for the role, and slashes that bond for fraud. A node already registered keeps
// its stake. The forced-error secret committed at registration is kept in the data directory,
// since the verifier must reveal it later (PROTOCOL.md §5.5).
import { mkdirSync } from "node:fs";
import { blake2AsHex } from "@polkadot/util-crypto";
import canonicalize from "canonicalize";
import type { NodeChainClient } from "../../chain-bridge/index.ts";
import { newForcedErrorSecret } from "../../chain-bridge/index.ts";
import type { NodeRole } from "../../protocol/node-wire.ts";
import { currentProfile } from "../train/profile.ts";
import { NodeError } from "./errors.ts";
import { keepSecret } from "./forced-error-secrets.ts";

const MINIMUM_STAKE: Record<NodeRole, string> = {
  worker: "minWorkerStake",
  verifier: "minVerifierStake",
  whistleblower: "minWhistleblowerStake",
};

async function minimumStake(chain: NodeChainClient, role: NodeRole): Promise<bigint> {
  const query = chain.api.query.compute?.parameters;
  if (!query) throw new Error("the chain has no Compute pallet (Compute.Parameters is missing)");
  const parameters = (await query()).toPrimitive() as Record<string, unknown>;
  return BigInt(String(parameters[MINIMUM_STAKE[role]]));
}

/**
 * Registers with a bond of `duties` times the role's minimum stake: the chain lets a node hold as
 * many tasks or audits at once as its bond covers (PROTOCOL.md §3).
 */
export async function ensureStaked(
  chain: NodeChainClient,
  role: NodeRole,
  dataDir: string,
  log: (message: string) => void,
  /** What it registers with: intra-op threads (part of its profile) and the duties its bond backs. */
  { threads = 1, duties = 1 }: { threads?: number; duties?: number } = {},
): Promise<void> {
  const existing = await chain.node();
  if (existing) {
    log(
      `already registered on chain as ${JSON.stringify(existing.roles)} with ${existing.bonded} planck bonded`,
    );
    return;
  }
  const bond = (await minimumStake(chain, role)) * BigInt(duties);
  const secret = newForcedErrorSecret();
  mkdirSync(dataDir, { recursive: true });
  keepSecret(dataDir, secret);
  const tx = await chain.register({
    roles: {
      worker: role === "worker",
      verifier: role === "verifier",
      whistleblower: role === "whistleblower",
    },
    profile: blake2AsHex(canonicalize(currentProfile(threads))!, 256),
    commitment: secret.commitment,
    bond,
  });
  if (tx.status === "failed") {
    throw new NodeError(
      "CHAIN_REJECTED",
      `the chain refused the registration: ${tx.error ?? "no reason given"}`,
    );
  }
  log(`registered on chain as a ${role} with ${bond} planck bonded (block ${tx.blockNumber ?? "pending"})`);
}
