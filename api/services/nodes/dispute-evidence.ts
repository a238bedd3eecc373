// Evidence bundles of the pinpoint game through the gateway (chain/PROTOCOL.md §6.4): once a
// dispute narrows to one operator, each party uploads the inputs of that operator for the referee.
// Only a party of the dispute as the chain records it may upload, while the dispute is open; the
// bundle is bounded in size, enters the blob store only when its bytes hash to what the party
// signed, and is indexed by dispute and party (a party's later upload replaces its earlier one, the
// same upload again changes nothing). The gateway does not judge a bundle's content: the referee
// checks every value in it against hashes both parties agreed on during the game.
import type { Readable } from "node:stream";
import type { DisputeView } from "../../../chain-bridge/index.ts";
import type { Database } from "../../../prisma/client.ts";
import type { DisputeEvidenceRef } from "../../../protocol/node-wire.ts";
import { ApiError } from "../../errors.ts";
import type { NodeBlobs } from "./blobs.ts";
import { type GatewayChainReads, requireChain } from "./chain-reads.ts";

export class DisputeEvidence {
  constructor(
    private readonly db: Database,
    private readonly blobs: NodeBlobs,
    private readonly chain: GatewayChainReads | null,
    /** Addresses that read every dispute's evidence: the operator's key, which the referee signs with. */
    private readonly trustedReaders: ReadonlySet<string>,
  ) {}

  private async openDispute(chainDisputeId: bigint): Promise<DisputeView> {
    const dispute = await requireChain(this.chain).dispute(chainDisputeId);
    if (!dispute) {
      throw new ApiError(
        404,
        "not_found_error",
        "dispute_not_found",
        `no open dispute ${chainDisputeId} on chain: evidence is taken only while its dispute is open`,
        "chainDisputeId",
      );
    }
    return dispute;
  }

  private async requireParty(node: string, chainDisputeId: bigint): Promise<void> {
    const dispute = await this.openDispute(chainDisputeId);
    if (node !== dispute.challenger && node !== dispute.defender) {
      throw new ApiError(
        403,
        "permission_error",
        "not_dispute_party",
        `node ${node} is neither the challenger nor the defender of dispute ${chainDisputeId}`,
        "chainDisputeId",
      );
    }
  }

  async store(
    node: string,
    chainDisputeId: bigint,
    sha256: string,
    content: Readable,
  ): Promise<DisputeEvidenceRef> {
    await this.requireParty(node, chainDisputeId);
    const sizeBytes = await this.blobs.store("evidence", content, sha256);
    const row = { sha256, sizeBytes: BigInt(sizeBytes) };
    await this.db.disputeEvidence.upsert({
      where: { chainDisputeId_party: { chainDisputeId, party: node } },
      create: { chainDisputeId, party: node, ...row },
      update: row,
    });
    return refOf({ chainDisputeId, party: node, ...row });
  }

  /**
   * The bundles uploaded for a dispute, for the operator's key (the referee) at any time and for
   * the dispute's parties while it is open. Their bytes download by hash from the blob route.
   */
  async list(node: string, chainDisputeId: bigint): Promise<DisputeEvidenceRef[]> {
    if (!this.trustedReaders.has(node)) await this.requireParty(node, chainDisputeId);
    const rows = await this.db.disputeEvidence.findMany({
      where: { chainDisputeId },
      orderBy: { party: "asc" },
    });
    return rows.map(refOf);
  }
}

function refOf(row: {
  chainDisputeId: bigint;
  party: string;
  sha256: string;
  sizeBytes: bigint;
}): DisputeEvidenceRef {
  return {
    chain_dispute_id: row.chainDisputeId.toString(),
    party: row.party,
    sha256: row.sha256,
    size_bytes: Number(row.sizeBytes),
  };
}
