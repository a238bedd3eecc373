// How many bytes of live files an organization may keep: uploads beyond the quota are refused, so
// one customer cannot fill the disks every customer's data lives on. Usage is the sum of the sizes
// of its live files (a deleted file frees its share at once, whenever the sweep removes its bytes;
// the same content uploaded twice counts twice, as the organization sees two files).
import type { Database } from "../../prisma/client.ts";
import type { Prisma } from "../../prisma/generated/client.ts";
import { DomainError } from "./domain-errors.ts";

export interface StorageUsage {
  used_bytes: number;
  quota_bytes: number;
}

const REMEDY = "delete files you no longer need (DELETE /v1/files/{id}) or ask for a larger quota";

export class StorageQuotaError extends DomainError<"storage_quota_exceeded"> {
  constructor(message: string) {
    super("storage_quota_exceeded", message, "file");
  }

  /** A file whose size is known would pass the quota. */
  static forFile(sizeBytes: number, usage: StorageUsage): StorageQuotaError {
    return new StorageQuotaError(
      `Storing this file (${sizeBytes} bytes) would bring the organization's files to ` +
        `${usage.used_bytes + sizeBytes} bytes, over its storage quota of ${usage.quota_bytes} bytes ` +
        `(${usage.used_bytes} bytes in use): ${REMEDY}`,
    );
  }

  /** An upload still streaming in passed what is left of the quota. */
  static whileStreaming(usage: StorageUsage): StorageQuotaError {
    const left = Math.max(0, usage.quota_bytes - usage.used_bytes);
    return new StorageQuotaError(
      `The upload is larger than the ${left} bytes left of the organization's storage quota of ` +
        `${usage.quota_bytes} bytes (${usage.used_bytes} bytes in use): ${REMEDY}`,
    );
  }
}

export class StorageQuota {
  constructor(
    private readonly db: Database,
    readonly quotaBytes: number,
  ) {}

  async usage(
    organizationId: string,
    tx: Prisma.TransactionClient | Database = this.db,
  ): Promise<StorageUsage> {
    const { _sum } = await tx.file.aggregate({
      where: { organizationId, deletedAt: null },
      _sum: { sizeBytes: true },
    });
    return { used_bytes: Number(_sum.sizeBytes ?? 0n), quota_bytes: this.quotaBytes };
  }

  /**
   * Inside the transaction that records a file: takes the organization's storage lock (held to the
   * end of the transaction, so two uploads cannot both fit in the same remaining bytes) and refuses
   * a file that would pass the quota.
   */
  async reserve(tx: Prisma.TransactionClient, organizationId: string, sizeBytes: number): Promise<void> {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`storage:${organizationId}`}, 0))`;
    const usage = await this.usage(organizationId, tx);
    if (usage.used_bytes + sizeBytes > usage.quota_bytes) throw StorageQuotaError.forFile(sizeBytes, usage);
  }
}
