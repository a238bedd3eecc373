// The double-entry ledger: every movement of an organization's money is one transaction whose
// lines sum to zero, recorded once per cause. The organization's running balance is locked
// (SELECT ... FOR UPDATE) and updated in the same database transaction, so concurrent
// reservations are serialized per organization and can never take `available` below zero.
// Every method accepts the caller's open transaction, so money moves atomically with the
// caller's own rows (a job and its reservation, a webhook event and its credit).
import type pg from "pg";
import type { Database } from "../../prisma/client.ts";
import type { LedgerAccount, LedgerKind, Prisma } from "../../prisma/generated/client.ts";
import { newId } from "../ids.ts";
import { pageOf } from "../schemas/common.ts";
import { DomainError } from "./domain-errors.ts";

type Tx = Prisma.TransactionClient;

export type LedgerErrorCode = "invalid_amount" | "cause_conflict" | "exceeds_reserved";

/** A misuse of the ledger by a caller (a bug, not a user error): it moves no money. */
export class LedgerError extends Error {
  constructor(
    readonly code: LedgerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "LedgerError";
  }
}

/**
 * A reservation while a refund or dispute has taken the balance below zero: credits already spent
 * were taken back, and no new work starts until a top-up repays that debt.
 */
export class BalanceNegativeError extends DomainError<"balance_negative"> {
  constructor(readonly availableCents: bigint) {
    super(
      "balance_negative",
      `The balance is ${availableCents} cents after a refund or dispute took back credits already spent; ` +
        `add at least ${-availableCents} cents with POST /v1/billing/checkout-sessions before creating jobs`,
    );
  }
}

/** A reservation larger than the organization's available credits: it moves no money. */
export class InsufficientFundsError extends DomainError<"insufficient_funds"> {
  constructor(
    readonly neededCents: bigint,
    readonly availableCents: bigint,
  ) {
    super(
      "insufficient_funds",
      `This needs ${neededCents} cents of credits but ${availableCents} are available; ` +
        "add credits with POST /v1/billing/checkout-sessions",
    );
  }
}

export interface Posting {
  transactionId: string;
  /** False when the cause had already moved money: nothing was posted this time. */
  applied: boolean;
}

export interface BalanceView {
  available_cents: number;
  reserved_cents: number;
}

export interface LedgerTransactionView {
  id: string;
  type: LedgerKind;
  description: string;
  available_change_cents: number;
  reserved_change_cents: number;
  created_at: string;
}

interface Line {
  account: LedgerAccount;
  amount: bigint;
}

/** Platform accounts (Stripe clearing, revenue) belong to no organization. */
const ORGANIZATION_ACCOUNTS: ReadonlySet<LedgerAccount> = new Set(["available", "reserved"]);

/** Each movement's lines, in the organization's favour when positive. */
const MOVEMENTS: Record<
  Exclude<LedgerKind, "charge">,
  { describe: string; lines: (cents: bigint) => Line[] }
> = {
  top_up: {
    describe: "Credits bought",
    lines: (c) => [
      { account: "stripe_clearing", amount: -c },
      { account: "available", amount: c },
    ],
  },
  reservation: {
    describe: "Credits reserved",
    lines: (c) => [
      { account: "available", amount: -c },
      { account: "reserved", amount: c },
    ],
  },
  release: {
    describe: "Reserved credits released",
    lines: (c) => [
      { account: "reserved", amount: -c },
      { account: "available", amount: c },
    ],
  },
  refund: {
    describe: "Card payment refunded",
    lines: (c) => [
      { account: "available", amount: -c },
      { account: "stripe_clearing", amount: c },
    ],
  },
  dispute: {
    describe: "Card payment disputed",
    lines: (c) => [
      { account: "available", amount: -c },
      { account: "stripe_clearing", amount: c },
    ],
  },
};

function positiveCents(cents: number, what: string): bigint {
  if (!Number.isSafeInteger(cents) || cents <= 0) {
    throw new LedgerError(
      "invalid_amount",
      `${what} must be a positive integer number of cents, got ${cents}`,
    );
  }
  return BigInt(cents);
}

function changeOf(lines: Line[], account: LedgerAccount): bigint {
  return lines.filter((l) => l.account === account).reduce((sum, l) => sum + l.amount, 0n);
}

export class Ledger {
  constructor(
    private readonly db: Database,
    private readonly pool: pg.Pool,
  ) {}

  async topUp(organizationId: string, cents: number, cause: string, tx?: Tx): Promise<Posting> {
    return this.move(organizationId, "top_up", positiveCents(cents, "a top-up"), cause, tx);
  }

  /** Moves credits from available to reserved; InsufficientFundsError when available is short. */
  async reserve(organizationId: string, cents: number, cause: string, tx?: Tx): Promise<Posting> {
    return this.move(organizationId, "reservation", positiveCents(cents, "a reservation"), cause, tx);
  }

  async release(organizationId: string, cents: number, cause: string, tx?: Tx): Promise<Posting> {
    return this.move(organizationId, "release", positiveCents(cents, "a release"), cause, tx);
  }

  /** Charges `actualCents` out of `reservedCents` held for the work and releases the rest. */
  async charge(organizationId: string, reservedCents: number, actualCents: number, cause: string, tx?: Tx) {
    const reserved = positiveCents(reservedCents, "the reserved amount of a charge");
    if (!Number.isSafeInteger(actualCents) || actualCents < 0 || actualCents > reservedCents) {
      throw new LedgerError(
        "invalid_amount",
        `a charge must be a whole number of cents from 0 to the ${reservedCents} reserved, got ${actualCents}`,
      );
    }
    const actual = BigInt(actualCents);
    const lines: Line[] = [
      { account: "reserved", amount: -reserved },
      { account: "revenue", amount: actual },
      { account: "available", amount: reserved - actual },
    ];
    const description = `Charged ${actualCents} of ${reservedCents} reserved cents`;
    return this.post(
      organizationId,
      "charge",
      lines.filter((l) => l.amount !== 0n),
      description,
      cause,
      tx,
    );
  }

  /** Takes credits back after a refund or dispute; available may go below zero (a debt). */
  async takeBack(organizationId: string, cents: number, kind: "refund" | "dispute", cause: string, tx?: Tx) {
    return this.move(organizationId, kind, positiveCents(cents, `a ${kind}`), cause, tx);
  }

  /** A hot read, so it goes through plain `pg` rather than Prisma (see docs/api.md). */
  async balance(organizationId: string): Promise<BalanceView> {
    // BIGINT arrives as a decimal string; cents stay far below 2^53.
    const { rows } = await this.pool.query<{ available_cents: string; reserved_cents: string }>(
      "SELECT available_cents, reserved_cents FROM balances WHERE organization_id = $1",
      [organizationId],
    );
    return {
      available_cents: Number(rows[0]?.available_cents ?? 0),
      reserved_cents: Number(rows[0]?.reserved_cents ?? 0),
    };
  }

  async transactions(organizationId: string, limit: number, after?: string) {
    const rows = await this.db.$queryRaw<
      Array<{
        id: string;
        kind: LedgerKind;
        description: string;
        created_at: Date;
        available: bigint;
        reserved: bigint;
      }>
    >`
      SELECT t.id, t.kind, t.description, t.created_at,
        COALESCE(SUM(l.amount_cents) FILTER (WHERE l.account = 'available'), 0)::bigint AS available,
        COALESCE(SUM(l.amount_cents) FILTER (WHERE l.account = 'reserved'), 0)::bigint AS reserved
      FROM ledger_transactions t
      JOIN ledger_lines l ON l.transaction_id = t.id AND l.organization_id = t.organization_id
      WHERE t.organization_id = ${organizationId} AND (${after ?? null}::text IS NULL OR t.id < ${after ?? null})
      GROUP BY t.id
      ORDER BY t.id DESC
      LIMIT ${limit + 1}`;
    const views: LedgerTransactionView[] = rows.map((row) => ({
      id: row.id,
      type: row.kind,
      description: row.description,
      available_change_cents: Number(row.available),
      reserved_change_cents: Number(row.reserved),
      created_at: row.created_at.toISOString(),
    }));
    return pageOf(views, limit);
  }

  private move(
    organizationId: string,
    kind: Exclude<LedgerKind, "charge">,
    cents: bigint,
    cause: string,
    tx?: Tx,
  ) {
    const movement = MOVEMENTS[kind];
    return this.post(
      organizationId,
      kind,
      movement.lines(cents),
      `${movement.describe} (${cause})`,
      cause,
      tx,
    );
  }

  private post(
    organizationId: string,
    kind: LedgerKind,
    lines: Line[],
    description: string,
    cause: string,
    tx?: Tx,
  ): Promise<Posting> {
    if (tx) return this.postIn(tx, organizationId, kind, lines, description, cause);
    // Generous waits: under a burst of reservations for one organization they queue on its row.
    return this.db.$transaction((own) => this.postIn(own, organizationId, kind, lines, description, cause), {
      maxWait: 20_000,
      timeout: 30_000,
    });
  }

  private async postIn(
    tx: Tx,
    organizationId: string,
    kind: LedgerKind,
    lines: Line[],
    description: string,
    cause: string,
  ): Promise<Posting> {
    await tx.$executeRaw`
      INSERT INTO balances (organization_id, updated_at) VALUES (${organizationId}, now())
      ON CONFLICT (organization_id) DO NOTHING`;
    const [balance] = await tx.$queryRaw<Array<{ available_cents: bigint; reserved_cents: bigint }>>`
      SELECT available_cents, reserved_cents FROM balances WHERE organization_id = ${organizationId} FOR UPDATE`;
    // Under the balance lock a repeated cause of this organization cannot race its first posting.
    const existing = await tx.ledgerTransaction.findUnique({ where: { causeKey: cause } });
    if (existing) {
      if (existing.kind !== kind || existing.organizationId !== organizationId) {
        throw new LedgerError(
          "cause_conflict",
          `cause '${cause}' already moved money as ${existing.kind} for ${existing.organizationId}`,
        );
      }
      return { transactionId: existing.id, applied: false };
    }
    const available = balance!.available_cents + changeOf(lines, "available");
    const reserved = balance!.reserved_cents + changeOf(lines, "reserved");
    if (kind === "reservation" && balance!.available_cents < 0n) {
      throw new BalanceNegativeError(balance!.available_cents);
    }
    if (kind === "reservation" && available < 0n) {
      throw new InsufficientFundsError(-changeOf(lines, "available"), balance!.available_cents);
    }
    if (reserved < 0n) {
      throw new LedgerError(
        "exceeds_reserved",
        `${kind} of ${-changeOf(lines, "reserved")} cents exceeds the ${balance!.reserved_cents} reserved`,
      );
    }
    const transactionId = newId("txn");
    await tx.ledgerTransaction.create({
      data: { id: transactionId, organizationId, kind, description, causeKey: cause },
    });
    await tx.ledgerLine.createMany({
      data: lines.map((line) => ({
        transactionId,
        organizationId: ORGANIZATION_ACCOUNTS.has(line.account) ? organizationId : null,
        account: line.account,
        amountCents: line.amount,
      })),
    });
    await tx.$executeRaw`
      UPDATE balances SET available_cents = ${available}, reserved_cents = ${reserved}, updated_at = now()
      WHERE organization_id = ${organizationId}`;
    return { transactionId, applied: true };
  }
}
