// Who may download a blob through the gateway. Hashes are public (on chain, in receipts), so knowing
// one proves nothing: a node reads a blob only while it holds a live lease on work that needs it
// (queue/leases.ts says which blobs those are), or a grant for it (blob-grants.ts: a whistleblower
// re-checking an audited segment in its challenge window). The API's own key reads any blob.
import type { Readable } from "node:stream";
import { ApiError } from "../../errors.ts";
import type { BlobGrants } from "./blob-grants.ts";
import type { NodeBlobs } from "./blobs.ts";
import type { NodeLeases } from "./leases.ts";

export class BlobReads {
  constructor(
    private readonly blobs: NodeBlobs,
    private readonly leases: NodeLeases,
    private readonly grants: BlobGrants,
    /** Addresses that read every blob: the API's own operator key. */
    private readonly trustedReaders: ReadonlySet<string>,
  ) {}

  /**
   * Opens `sha256` for `node`. A blob no lease of the node references is refused the same way
   * whether or not it exists, so a stranger learns nothing about what is stored.
   */
  async open(node: string, sha256: string): Promise<Readable> {
    const allowed =
      this.trustedReaders.has(node) ||
      (await this.leases.leasesBlob(node, sha256)) ||
      (await this.grants.allows(node, sha256));
    if (!allowed) {
      throw new ApiError(
        403,
        "permission_error",
        "blob_not_leased",
        `node ${node} holds no live lease on work that uses blob ${sha256}; claim the task first`,
        "sha256",
      );
    }
    return this.blobs.open(sha256);
  }
}
