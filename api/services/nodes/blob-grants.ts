// Blob reads a node holds without a lease: a whistleblower re-checking a verdict reads the audited
// segment's model, dataset and bounding checkpoints until the audit's challenge window closes
// (PROTOCOL.md §5.6). Kept in Redis, each grant valid up to a block of the chain; the key expires
// on its own a while later so that nothing needs cleaning up.
import type { Redis } from "ioredis";
import type { GatewayChainReads } from "./chain-reads.ts";

// Longer than any challenge window of the dev chain and far shorter than a production one would
// leave keys around; a grant outliving its key is simply asked for again.
const GRANT_KEY_TTL_MS = 6 * 60 * 60 * 1000;

const keyOf = (node: string, sha256: string) => `blob-grant:${node}:${sha256}`;

export class BlobGrants {
  constructor(
    private readonly redis: Redis,
    private readonly chain: GatewayChainReads | null,
  ) {}

  /** Lets `node` read each of `blobs` up to block `untilBlock` included. */
  async grant(node: string, blobs: readonly string[], untilBlock: number): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const sha256 of blobs) pipeline.set(keyOf(node, sha256), String(untilBlock), "PX", GRANT_KEY_TTL_MS);
    await pipeline.exec();
  }

  async allows(node: string, sha256: string): Promise<boolean> {
    if (!this.chain) return false;
    const until = await this.redis.get(keyOf(node, sha256));
    return until !== null && (await this.chain.head()) <= Number(until);
  }
}
