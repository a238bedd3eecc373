// Where the submitter writes down every extrinsic before it goes out. The API's bridge keeps the
// journal in Postgres (chain_transactions), where settling a record and applying its effect on
// the causing row happen in one database transaction; a node daemon, which owns no database,
// keeps it in memory (its calls are guarded by chain state: a second commit is refused on chain).
import type { Database } from "../prisma/client.ts";
import type { ChainTransaction, Prisma } from "../prisma/generated/client.ts";
import type { DecodedEvent } from "./inclusion.ts";

export type TxStatus = "pending" | "submitted" | "succeeded" | "failed";

export interface TxRecord {
  causeKey: string;
  purpose: string;
  signer: string;
  callHex: string;
  nonce: number | null;
  signedHex: string | null;
  extrinsicHash: string | null;
  validFrom: number | null;
  validUntil: number | null;
  status: TxStatus;
  attempts: number;
  blockHash: string | null;
  blockNumber: number | null;
  extrinsicIndex: number | null;
  events: DecodedEvent[] | null;
  errorCode: string | null;
  error: string | null;
}

export interface TxDraft {
  causeKey: string;
  purpose: string;
  signer: string;
  callHex: string;
}

export interface SignedForm {
  nonce: number;
  signedHex: string;
  extrinsicHash: string;
  validFrom: number;
  validUntil: number;
}

export type Settlement =
  | {
      status: "succeeded" | "failed";
      blockHash: string;
      blockNumber: number;
      extrinsicIndex: number;
      events: DecodedEvent[];
      errorCode: string | null;
      error: string | null;
    }
  | { status: "failed"; errorCode: string; error: string };

export interface TransactionStore {
  /** Writes the draft unless its cause key is already recorded; returns what is stored. */
  record(draft: TxDraft): Promise<TxRecord>;
  /** Stores the signed form (status `submitted`) before it is sent. */
  markSigned(causeKey: string, signed: SignedForm): Promise<TxRecord>;
  /** Final outcome; a store with effects applies them atomically with it. */
  settle(causeKey: string, settlement: Settlement): Promise<TxRecord>;
  /** Records of this signer still `pending` or `submitted`, oldest first. */
  unsettled(signer: string): Promise<TxRecord[]>;
}

function applySettlement(record: TxRecord, settlement: Settlement): TxRecord {
  if ("blockHash" in settlement) return { ...record, ...settlement };
  return { ...record, status: settlement.status, errorCode: settlement.errorCode, error: settlement.error };
}

export class MemoryTransactionStore implements TransactionStore {
  readonly #records = new Map<string, TxRecord>();

  async record(draft: TxDraft): Promise<TxRecord> {
    const existing = this.#records.get(draft.causeKey);
    if (existing) return existing;
    const record: TxRecord = {
      ...draft,
      nonce: null,
      signedHex: null,
      extrinsicHash: null,
      validFrom: null,
      validUntil: null,
      status: "pending",
      attempts: 0,
      blockHash: null,
      blockNumber: null,
      extrinsicIndex: null,
      events: null,
      errorCode: null,
      error: null,
    };
    this.#records.set(draft.causeKey, record);
    return record;
  }

  async markSigned(causeKey: string, signed: SignedForm): Promise<TxRecord> {
    const record = this.#get(causeKey);
    const next: TxRecord = { ...record, ...signed, status: "submitted", attempts: record.attempts + 1 };
    this.#records.set(causeKey, next);
    return next;
  }

  async settle(causeKey: string, settlement: Settlement): Promise<TxRecord> {
    const next = applySettlement(this.#get(causeKey), settlement);
    this.#records.set(causeKey, next);
    return next;
  }

  async unsettled(signer: string): Promise<TxRecord[]> {
    return [...this.#records.values()].filter(
      (record) => record.signer === signer && (record.status === "pending" || record.status === "submitted"),
    );
  }

  #get(causeKey: string): TxRecord {
    const record = this.#records.get(causeKey);
    if (!record) throw new Error(`no transaction recorded for cause ${causeKey}`);
    return record;
  }
}

/** Applies a settled transaction's effect to the row that caused it, inside the same transaction. */
export type SettlementEffect = (tx: Prisma.TransactionClient, record: TxRecord) => Promise<void>;

/** A cause and its numbered retries. */
function retriesOf(causeKey: string) {
  return { OR: [{ causeKey }, { causeKey: { startsWith: `${causeKey}#` } }] };
}

function fromRow(row: ChainTransaction): TxRecord {
  return {
    causeKey: row.causeKey,
    purpose: row.purpose,
    signer: row.signer,
    callHex: row.callHex,
    nonce: row.nonce,
    signedHex: row.signedHex,
    extrinsicHash: row.extrinsicHash,
    validFrom: row.validFrom,
    validUntil: row.validUntil,
    status: row.status,
    attempts: row.attempts,
    blockHash: row.blockHash,
    blockNumber: row.blockNumber,
    extrinsicIndex: row.extrinsicIndex,
    // Written only by settle() below, from DecodedEvent[].
    events: row.events as DecodedEvent[] | null,
    errorCode: row.errorCode,
    error: row.error,
  };
}

export class PrismaTransactionStore implements TransactionStore {
  constructor(
    private readonly db: Database,
    /** Effects by purpose ("Compute.create_task"), applied when a record of that purpose settles. */
    private readonly effects: Readonly<Record<string, SettlementEffect>> = {},
  ) {}

  /** Records the draft inside the caller's transaction, beside the row that causes it. */
  async recordWithin(tx: Prisma.TransactionClient, draft: TxDraft): Promise<TxRecord> {
    const existing = await tx.chainTransaction.findUnique({ where: { causeKey: draft.causeKey } });
    if (existing) return fromRow(existing);
    return fromRow(await tx.chainTransaction.create({ data: { ...draft, status: "pending" } }));
  }

  /**
   * Like recordWithin, for a cause that may be tried again after a definite failure: while its
   * last extrinsic is pending, submitted or succeeded that one is returned; once it failed on
   * chain, the next retry is recorded as `<cause>#<n>`.
   */
  async recordRetryable(tx: Prisma.TransactionClient, draft: TxDraft): Promise<TxRecord> {
    const previous = await tx.chainTransaction.findMany({
      where: retriesOf(draft.causeKey),
      select: { causeKey: true, status: true },
    });
    const live = previous.find((row) => row.status !== "failed");
    const causeKey =
      live?.causeKey ?? (previous.length === 0 ? draft.causeKey : `${draft.causeKey}#${previous.length}`);
    return this.recordWithin(tx, { ...draft, causeKey });
  }

  async record(draft: TxDraft): Promise<TxRecord> {
    await this.db.chainTransaction.createMany({
      data: [{ ...draft, status: "pending" }],
      skipDuplicates: true,
    });
    return fromRow(await this.db.chainTransaction.findUniqueOrThrow({ where: { causeKey: draft.causeKey } }));
  }

  async markSigned(causeKey: string, signed: SignedForm): Promise<TxRecord> {
    const row = await this.db.chainTransaction.update({
      where: { causeKey },
      data: { ...signed, status: "submitted", attempts: { increment: 1 }, error: null, errorCode: null },
    });
    return fromRow(row);
  }

  async settle(causeKey: string, settlement: Settlement): Promise<TxRecord> {
    const data =
      "blockHash" in settlement
        ? { ...settlement, events: settlement.events as unknown as Prisma.InputJsonValue }
        : settlement;
    return this.db.$transaction(async (tx) => {
      const record = fromRow(await tx.chainTransaction.update({ where: { causeKey }, data }));
      await this.effects[record.purpose]?.(tx, record);
      return record;
    });
  }

  /** The succeeded record of a cause or one of its numbered retries (`<cause>#<n>`), if any. */
  async succeeded(causeKey: string): Promise<TxRecord | null> {
    const row = await this.db.chainTransaction.findFirst({
      where: { ...retriesOf(causeKey), status: "succeeded" },
    });
    return row ? fromRow(row) : null;
  }

  async unsettled(signer: string): Promise<TxRecord[]> {
    const rows = await this.db.chainTransaction.findMany({
      where: { signer, status: { in: ["pending", "submitted"] } },
      orderBy: { createdAt: "asc" },
    });
    return rows.map(fromRow);
  }
}
