import type { Prisma } from "../../prisma/generated/client.ts";

/**
 * Holds, until the transaction ends, the lock on one blob's hash that a new file's commit and the
 * deleted-blob sweep both take: a sweep never removes bytes a file being recorded has just reused.
 */
export async function lockBlob(tx: Prisma.TransactionClient, sha256: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`blob:${sha256}`}, 0))`;
}
