// Card payments for prepaid credits: Checkout Sessions out, webhook events in. Each handled event
// is recorded in processed_webhook_events in the same database transaction as the money it
// moves, so a retried or concurrently duplicated delivery finds it and does nothing; the ledger
// causes (the Checkout Session, the cumulative refund, the dispute) make each movement unique
// even across different events about the same payment.
import type Stripe from "stripe";
import type { Database } from "../../prisma/client.ts";
import type { Prisma } from "../../prisma/generated/client.ts";
import type { Ledger } from "./ledger.ts";
import type { LocalCheckout } from "./local-checkout.ts";
import { stripeNotConfigured, verifiedEvent } from "./stripe.ts";
import type { PendingDeliveries, WebhookOutbox } from "./webhooks/outbox.ts";

type Tx = Prisma.TransactionClient;

export const CHECKOUT_MIN_CENTS = 500;
export const CHECKOUT_MAX_CENTS = 1_000_000;
const CURRENCY = "usd";

export interface CheckoutRequest {
  amountCents: number;
  successUrl: string;
  cancelUrl: string;
  /** Where the caller reached this API (scheme, host, port): a local checkout's page is served there. */
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
    return outcome;
  }

  private async credit(tx: Tx, session: Stripe.Checkout.Session): Promise<PendingDeliveries> {
    const organizationId = session.client_reference_id;
    const amount = session.amount_total ?? 0;
    if (session.payment_status !== "paid" || !organizationId || amount <= 0 || session.currency !== CURRENCY)
      return [];
    const organization = await tx.organization.findUnique({ where: { id: organizationId } });
    if (!organization) return [];
    await tx.$executeRaw`
      INSERT INTO stripe_payments (checkout_session_id, payment_intent_id, organization_id, amount_cents)
      VALUES (${session.id}, ${idOf(session.payment_intent)}, ${organizationId}, ${amount})
      ON CONFLICT (checkout_session_id) DO NOTHING`;
    const posting = await this.ledger.topUp(organizationId, amount, `stripe:checkout:${session.id}`, tx);
    if (!posting.applied) return [];
    return this.webhooks.record(tx, organizationId, {
      type: "billing.credits_added",
      data: {
        amount_cents: amount,
        currency: CURRENCY,
        checkout_session: session.id,
        transaction: posting.transactionId,
      },
    });
  }

  /** `amount_refunded` is cumulative: take back only what earlier refund events have not. */
  private async refund(tx: Tx, charge: Stripe.Charge): Promise<void> {
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
