// Card payments for prepaid credits: Checkout Sessions out, webhook events in. Each handled event
// is recorded in processed_webhook_events in the same database transaction as the money it
// moves, so a retried or concurrently duplicated delivery finds it and does nothing; the ledger
// causes (the Checkout Session, the cumulative refund, the dispute) make each movement unique
// even across different events about the same payment. A delayed payment method (a bank debit)
// completes its session unpaid: it is recorded as processing, then credited when Stripe reports
// async_payment_succeeded, or kept as failed (and shown in GET /v1/billing/payments) when it fails.
// Each payment keeps the address of its receipt: Stripe's charge carries it (`charge.succeeded`,
// `charge.refunded`), and since that event may come before the session's, a credited payment
// without one asks Stripe for its charge right after.
import type Stripe from "stripe";
import type { Database } from "../../prisma/client.ts";
import type { Prisma, StripePayment } from "../../prisma/generated/client.ts";
import { pageOf } from "../schemas/common.ts";
import { checkoutReturnUrl } from "./checkout-return-urls.ts";
import type { Ledger } from "./ledger.ts";
import type { LocalCheckout } from "./local-checkout.ts";
import { stripeNotConfigured, verifiedEvent } from "./stripe.ts";
import type { PendingDeliveries, WebhookOutbox } from "./webhooks/outbox.ts";

type Tx = Prisma.TransactionClient;

/** Events after which a payment may be credited, and so have a receipt. */
const CREDITING = new Set<string>(["checkout.session.completed", "checkout.session.async_payment_succeeded"]);

export const CHECKOUT_MIN_CENTS = 500;
export const CHECKOUT_MAX_CENTS = 1_000_000;
const CURRENCY = "usd";

export interface CheckoutRequest {
  amountCents: number;
  successUrl: string;
  cancelUrl: string;
  /**
   * Where the caller reached this API (scheme, host, port): a local checkout's page is served
   * there, and return paths resolve against it.
   */
  origin: string;
}

export interface CheckoutSessionView {
  id: string;
  url: string;
  amount_cents: number;
  currency: string;
  expires_at: string;
}

export type WebhookOutcome = "processed" | "duplicate" | "ignored";

export interface PaymentView {
  id: string;
  status: "processing" | "paid" | "failed";
  amount_cents: number;
  refunded_cents: number;
  disputed_cents: number;
  /** The payment's receipt page; null until Stripe has one (a delayed method: once it settles). */
  receipt_url: string | null;
  created_at: string;
  updated_at: string;
}

function paymentView(row: StripePayment): PaymentView {
  return {
    id: row.checkoutSessionId,
    status: row.status,
    amount_cents: Number(row.amountCents),
    refunded_cents: Number(row.refundedCents),
    disputed_cents: Number(row.disputedCents),
    receipt_url: row.receiptUrl,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

function idOf(value: string | { id: string } | null): string | null {
  return typeof value === "string" ? value : (value?.id ?? null);
}

export class Billing {
  /** Event type → what it does to the ledger; every other type is acknowledged and ignored. */
  private readonly handlers: Partial<
    // What a handler returns: the webhook deliveries it announced, to queue once it committed.
    Record<Stripe.Event["type"], (tx: Tx, event: Stripe.Event) => Promise<PendingDeliveries>>
  > = {
    "checkout.session.completed": (tx, event) =>
      this.credit(tx, event.data.object as Stripe.Checkout.Session),
    "checkout.session.async_payment_succeeded": (tx, event) =>
      this.credit(tx, event.data.object as Stripe.Checkout.Session),
    "checkout.session.async_payment_failed": (tx, event) =>
      this.paymentFailed(tx, event.data.object as Stripe.Checkout.Session).then(() => []),
    "charge.succeeded": (tx, event) =>
      this.keepReceipt(tx, event.data.object as Stripe.Charge).then(() => []),
    "charge.refunded": (tx, event) => this.refund(tx, event.data.object as Stripe.Charge).then(() => []),
    "charge.dispute.created": (tx, event) =>
      this.dispute(tx, event.data.object as Stripe.Dispute).then(() => []),
  };

  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly webhooks: WebhookOutbox,
    private readonly stripe: Stripe | undefined,
    private readonly webhookSecret: string | undefined,
    /** Origins a payment page may return to (PORTAL_ORIGINS); none: the origin the API was reached at. */
    private readonly returnOrigins: readonly string[],
    /** Takes payments without Stripe on a development stack (api/services/local-checkout.ts). */
    private readonly local?: LocalCheckout,
  ) {}

  /**
   * With the client's Idempotency-Key, Stripe dedups too: a retry after our process died between
   * Stripe's answer and ours gets the same session rather than a second one.
   */
  async createCheckoutSession(
    organizationId: string,
    request: CheckoutRequest,
    idempotencyKey?: string,
  ): Promise<CheckoutSessionView> {
    request = {
      ...request,
      successUrl: checkoutReturnUrl(request.successUrl, "success_url", request.origin, this.returnOrigins),
      cancelUrl: checkoutReturnUrl(request.cancelUrl, "cancel_url", request.origin, this.returnOrigins),
    };
    if (!this.stripe) {
      if (this.local) return this.local.create(organizationId, request, CURRENCY);
      throw stripeNotConfigured("STRIPE_SECRET_KEY");
    }
    const options = idempotencyKey ? { idempotencyKey: `checkout:${organizationId}:${idempotencyKey}` } : {};
    const session = await this.stripe.checkout.sessions.create(
      {
        mode: "payment",
        client_reference_id: organizationId,
        success_url: request.successUrl,
        cancel_url: request.cancelUrl,
        line_items: [
          {
            quantity: 1,
            price_data: {
              currency: CURRENCY,
              unit_amount: request.amountCents,
              product_data: { name: "Veritrain training credits" },
            },
          },
        ],
        metadata: { organization_id: organizationId, amount_cents: String(request.amountCents) },
        payment_intent_data: { metadata: { organization_id: organizationId } },
      },
      options,
    );
    return {
      id: session.id,
      url: session.url ?? "",
      amount_cents: session.amount_total ?? request.amountCents,
      currency: session.currency ?? CURRENCY,
      expires_at: new Date(session.expires_at * 1000).toISOString(),
    };
  }

  async handleWebhook(rawBody: Buffer, signature: string | undefined): Promise<WebhookOutcome> {
    if (!this.webhookSecret) throw stripeNotConfigured("STRIPE_WEBHOOK_SECRET");
    const event = verifiedEvent(rawBody, signature, this.webhookSecret);
    const handler = this.handlers[event.type];
    if (!handler) return "ignored";
    const { outcome, deliveries } = await this.db.$transaction(
      async (tx) => {
        // A concurrent duplicate waits here for the first delivery to commit, then sees it.
        const inserted = await tx.$executeRaw`
          INSERT INTO processed_webhook_events (id, type) VALUES (${event.id}, ${event.type})
          ON CONFLICT (id) DO NOTHING`;
        if (inserted === 0) return { outcome: "duplicate" as const, deliveries: [] };
        return { outcome: "processed" as const, deliveries: await handler(tx, event) };
      },
      { maxWait: 20_000, timeout: 30_000 },
    );
    await this.webhooks.send(deliveries);
    if (outcome === "processed" && CREDITING.has(event.type))
      await this.fetchReceipt(event.data.object as Stripe.Checkout.Session);
    return outcome;
  }

  /**
   * Asks Stripe for the receipt of a credited payment that has none yet. A failure here is not
   * the webhook's: the payment is credited, and `charge.succeeded` brings the receipt as well.
   */
  private async fetchReceipt(session: Stripe.Checkout.Session): Promise<void> {
    const paymentIntent = idOf(session.payment_intent);
    if (!this.stripe || !paymentIntent || session.payment_status !== "paid") return;
    const recorded = await this.db.stripePayment.findUnique({ where: { paymentIntentId: paymentIntent } });
    if (!recorded || recorded.receiptUrl !== null) return;
    try {
      const intent = await this.stripe.paymentIntents.retrieve(paymentIntent, { expand: ["latest_charge"] });
      const charge = intent.latest_charge;
      if (charge && typeof charge === "object") await this.keepReceipt(this.db, charge);
    } catch {
      // Left for charge.succeeded.
    }
  }

  /** Records the charge's receipt address on its payment, once the payment is known. */
  private async keepReceipt(tx: Tx | Database, charge: Stripe.Charge): Promise<void> {
    const paymentIntent = idOf(charge.payment_intent);
    // Only an https page becomes a link the portal shows.
    if (!paymentIntent || !charge.receipt_url?.startsWith("https://")) return;
    await tx.stripePayment.updateMany({
      where: { paymentIntentId: paymentIntent },
      data: { receiptUrl: charge.receipt_url },
    });
  }

  /** The organization's card payments, newest first, failed ones included. */
  async payments(organizationId: string, limit: number, after?: string) {
    const rows = await this.db.stripePayment.findMany({
      where: { organizationId },
      orderBy: [{ createdAt: "desc" }, { checkoutSessionId: "desc" }],
      take: limit + 1,
      ...(after ? { cursor: { checkoutSessionId: after }, skip: 1 } : {}),
    });
    return pageOf(rows.map(paymentView), limit);
  }

  /** The organization a session credits, when it is ours to credit (USD, a known organization). */
  private async payer(
    tx: Tx,
    session: Stripe.Checkout.Session,
  ): Promise<{ id: string; amount: number } | null> {
    const organizationId = session.client_reference_id;
    const amount = session.amount_total ?? 0;
    if (!organizationId || amount <= 0 || session.currency !== CURRENCY) return null;
    const organization = await tx.organization.findUnique({ where: { id: organizationId } });
    return organization ? { id: organization.id, amount } : null;
  }

  private async credit(tx: Tx, session: Stripe.Checkout.Session): Promise<PendingDeliveries> {
    const payer = await this.payer(tx, session);
    if (!payer) return [];
    if (session.payment_status !== "paid") {
      await tx.$executeRaw`
        INSERT INTO stripe_payments (checkout_session_id, payment_intent_id, organization_id, amount_cents, status)
        VALUES (${session.id}, ${idOf(session.payment_intent)}, ${payer.id}, ${payer.amount}, 'processing')
        ON CONFLICT (checkout_session_id) DO NOTHING`;
      return [];
    }
    await tx.$executeRaw`
      INSERT INTO stripe_payments (checkout_session_id, payment_intent_id, organization_id, amount_cents, status)
      VALUES (${session.id}, ${idOf(session.payment_intent)}, ${payer.id}, ${payer.amount}, 'paid')
      ON CONFLICT (checkout_session_id) DO UPDATE SET status = 'paid', updated_at = now(),
        payment_intent_id = COALESCE(stripe_payments.payment_intent_id, EXCLUDED.payment_intent_id)`;
    const posting = await this.ledger.topUp(payer.id, payer.amount, `stripe:checkout:${session.id}`, tx);
    if (!posting.applied) return [];
    return this.webhooks.record(tx, payer.id, {
      type: "billing.credits_added",
      data: {
        amount_cents: payer.amount,
        currency: CURRENCY,
        checkout_session: session.id,
        transaction: posting.transactionId,
      },
    });
  }

  /** A delayed payment that did not go through: nothing to credit, but the user sees why. */
  private async paymentFailed(tx: Tx, session: Stripe.Checkout.Session): Promise<void> {
    const payer = await this.payer(tx, session);
    if (!payer) return;
    await tx.$executeRaw`
      INSERT INTO stripe_payments (checkout_session_id, payment_intent_id, organization_id, amount_cents, status)
      VALUES (${session.id}, ${idOf(session.payment_intent)}, ${payer.id}, ${payer.amount}, 'failed')
      ON CONFLICT (checkout_session_id) DO UPDATE SET status = 'failed', updated_at = now()
        WHERE stripe_payments.status = 'processing'`;
  }

  /** `amount_refunded` is cumulative: take back only what earlier refund events have not. */
  private async refund(tx: Tx, charge: Stripe.Charge): Promise<void> {
    await this.keepReceipt(tx, charge);
    const payment = await this.lockPayment(tx, idOf(charge.payment_intent));
    if (!payment) return;
    const refunded = BigInt(Math.min(charge.amount_refunded, Number(payment.amount_cents)));
    const delta = refunded - payment.refunded_cents;
    if (delta <= 0n) return;
    await this.ledger.takeBack(
      payment.organization_id,
      Number(delta),
      "refund",
      `stripe:refund:${payment.checkout_session_id}:${refunded}`,
      tx,
    );
    await tx.stripePayment.update({
      where: { checkoutSessionId: payment.checkout_session_id },
      data: { refundedCents: refunded },
    });
  }

  private async dispute(tx: Tx, dispute: Stripe.Dispute): Promise<void> {
    const payment = await this.lockPayment(tx, idOf(dispute.payment_intent));
    if (!payment) return;
    const remaining = payment.amount_cents - payment.refunded_cents - payment.disputed_cents;
    const amount = BigInt(dispute.amount) < remaining ? BigInt(dispute.amount) : remaining;
    if (amount <= 0n) return;
    await this.ledger.takeBack(
      payment.organization_id,
      Number(amount),
      "dispute",
      `stripe:dispute:${dispute.id}`,
      tx,
    );
    await tx.stripePayment.update({
      where: { checkoutSessionId: payment.checkout_session_id },
      data: { disputedCents: payment.disputed_cents + amount },
    });
  }

  private async lockPayment(tx: Tx, paymentIntentId: string | null) {
    if (!paymentIntentId) return undefined;
    const rows = await tx.$queryRaw<
      Array<{
        checkout_session_id: string;
        organization_id: string;
        amount_cents: bigint;
        refunded_cents: bigint;
        disputed_cents: bigint;
      }>
    >`
      SELECT checkout_session_id, organization_id, amount_cents, refunded_cents, disputed_cents
      FROM stripe_payments WHERE payment_intent_id = ${paymentIntentId} FOR UPDATE`;
    return rows[0];
  }
}
