// A verifier's forced-error commitment kept fresh: the chain spends it on the audit it draws this
// node for, and draws the node for no other audit until it commits to a new secret (PROTOCOL.md §3).
// Watching for that and committing anew at once is what lets a verifier hold several audits.
import { setTimeout as sleep } from "node:timers/promises";
import type { NodeChainClient } from "../../chain-bridge/index.ts";
import { newForcedErrorSecret } from "../../chain-bridge/index.ts";
import { keepSecret } from "./forced-error-secrets.ts";

// Blocks come every second or so; looking about once a block costs one storage read.
const POLL_MS = 1_000;

export async function keepCommitmentFresh(
  chain: NodeChainClient,
  dataDir: string,
  stop: AbortSignal,
  log: (message: string) => void,
): Promise<void> {
  while (!stop.aborted) {
    try {
      const node = await chain.node();
      if (node?.commitmentInUse) {
        const next = newForcedErrorSecret();
        keepSecret(dataDir, next);
        const tx = await chain.rotateCommitment(next.commitment);
        if (tx.status === "failed")
          log(`the chain refused a fresh commitment: ${tx.error ?? "no reason given"}`);
      }
    } catch (error) {
      if (stop.aborted) return;
      log(`could not refresh the forced-error commitment: ${(error as Error).message}`);
    }
    await sleep(POLL_MS, undefined, { signal: stop }).catch(() => undefined);
  }
}
