// Storage of Idempotency-Key claims and the responses they replay (see api/plugins/idempotency.ts).
import type { Database } from "../../prisma/client.ts";
import type { Prisma } from "../../prisma/generated/client.ts";
import type { DbClient } from "./db-client.ts";

/** After this a key may be reused for a new request, as with Stripe. */
export const KEY_LIFETIME_HOURS = 24;

export type ClaimResult =
  | { kind: "claimed" }
  | { kind: "different_request" }
  | { kind: "in_progress" }
  | { kind: "completed"; statusCode: number; body: unknown };

export class IdempotencyRecords {
  constructor(private readonly db: Database) {}

  /** Claims the key for this request, or says what the earlier request with it became. */
  async claim(organizationId: string, key: string, requestHash: string): Promise<ClaimResult> {
    // A key older than its lifetime is taken over as if it were new.
    const claimed = await this.db.$queryRaw<unknown[]>`
      INSERT INTO idempotency_records (organization_id, key, request_hash)
      VALUES (${organizationId}, ${key}, ${requestHash})
      ON CONFLICT (organization_id, key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash, status_code = NULL, response_body = NULL, created_at = now()
        WHERE idempotency_records.created_at < now() - make_interval(hours => ${KEY_LIFETIME_HOURS})
      RETURNING key`;
    if (claimed.length > 0) return { kind: "claimed" };
    const record = await this.db.idempotencyRecord.findUnique({
      where: { organizationId_key: { organizationId, key } },
    });
    // Released by a failed first request between our insert and this read: it is still busy.
    if (!record || record.statusCode === null) {
      return record && record.requestHash !== requestHash
        ? { kind: "different_request" }
        : { kind: "in_progress" };
    }
    if (record.requestHash !== requestHash) return { kind: "different_request" };
    return { kind: "completed", statusCode: record.statusCode, body: record.responseBody };
  }

  async complete(
    organizationId: string,
    key: string,
    statusCode: number,
    body: unknown,
    client: DbClient = this.db,
  ): Promise<void> {
    await client.idempotencyRecord.update({
      where: { organizationId_key: { organizationId, key } },
      data: { statusCode, responseBody: body as Prisma.InputJsonValue },
    });
  }

  async release(organizationId: string, key: string): Promise<void> {
    await this.db.idempotencyRecord.deleteMany({ where: { organizationId, key } });
  }
}

/**
 * A key claimed by the request being served. A service that performs the request's effect in a
 * database transaction records the response in that same transaction, so the effect and its
 * replay commit together: a crash after the commit still replays instead of running twice.
 */
export class IdempotencyClaim {
  private recordedInTransaction = false;

  constructor(
    readonly organizationId: string,
    readonly key: string,
    private readonly records: IdempotencyRecords,
  ) {}

  get recorded(): boolean {
    return this.recordedInTransaction;
  }

  async recordIn(tx: Prisma.TransactionClient, statusCode: number, body: unknown): Promise<void> {
    await this.records.complete(this.organizationId, this.key, statusCode, body, tx);
    this.recordedInTransaction = true;
  }
}
