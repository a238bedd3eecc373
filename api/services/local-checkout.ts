// A stand-in for Stripe Checkout on a development stack without STRIPE_SECRET_KEY, so that a
// newcomer can buy credits and train a model right after `npm start`. The API serves the payment
// page itself; paying builds the `checkout.session.completed` event Stripe would send and hands
// its exact bytes, signed with a webhook secret the stack made for itself, to the handler that
// Stripe's deliveries reach. The credit, its exactly-once guarantee and the portal's way back are
// therefore production's own; only the card is missing. NODE_ENV=production never enables it.
import { randomBytes } from "node:crypto";
import Stripe from "stripe";
import type { Config } from "../../config/env.ts";
import type { Database } from "../../prisma/client.ts";
import type { LocalCheckoutSession } from "../../prisma/generated/client.ts";
import type { CheckoutRequest, CheckoutSessionView, WebhookOutcome } from "./billing.ts";
import { DomainError, NotFoundError } from "./domain-errors.ts";
import { keptSecret } from "./kept-secret.ts";

export class LocalCheckoutError extends DomainError<"checkout_session_expired" | "checkout_session_paid"> {}

/** Stripe's own lifetime of an unpaid Checkout Session. */
const LIFETIME_MS = 24 * 3600 * 1000;
const WEBHOOK_SECRET_FILE = "local-checkout-webhook-secret";
export const LOCAL_CHECKOUT_PATH = "/v1/billing/local-checkout";

/** Without Stripe keys, outside production: the stack takes payments itself, with no card. */
export function localCheckoutEnabled(config: Pick<Config, "production" | "stripeSecretKey">): boolean {
  return !config.production && config.stripeSecretKey === undefined;
}

/** The webhook secret of this stack's local checkout, made once and kept in the data directory. */
export function localWebhookSecret(dataDir: string): string {
  return keptSecret(dataDir, WEBHOOK_SECRET_FILE, () => `whsec_${randomBytes(24).toString("hex")}`).value;
}

/** What the payment page shows; `expired` also covers an unpaid session past its expiry. */
export interface LocalCheckoutView {
  id: string;
  status: "open" | "complete" | "expired";
  amount_cents: number;
  currency: string;
  success_url: string;
  cancel_url: string;
  expires_at: string;
  /** When it was paid; null unless `complete`. */
  completed_at: string | null;
}

/** Delivers a webhook request: the raw body and its Stripe-Signature header. */
export type WebhookDelivery = (rawBody: Buffer, signature: string) => Promise<WebhookOutcome>;

const token = () => randomBytes(24).toString("hex");

function paidEvent(session: LocalCheckoutSession): string {
  const created = Math.floor(session.createdAt.getTime() / 1000);
  const object = {
    id: session.id,
    object: "checkout.session",
    amount_subtotal: session.amountCents,
    amount_total: session.amountCents,
    currency: session.currency,
    client_reference_id: session.organizationId,
    created,
    expires_at: Math.floor(session.expiresAt.getTime() / 1000),
    livemode: false,
    metadata: { organization_id: session.organizationId, amount_cents: String(session.amountCents) },
    mode: "payment",
    payment_intent: session.paymentIntentId,
    payment_status: "paid",
    status: "complete",
    success_url: session.successUrl,
    cancel_url: session.cancelUrl,
    url: null,
  } satisfies Partial<Stripe.Checkout.Session>;
  return JSON.stringify({
    id: session.eventId,
    object: "event",
    api_version: Stripe.API_VERSION,
    created: Math.floor((session.completedAt ?? session.createdAt).getTime() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: "checkout.session.completed",
    data: { object },
  });
}

export class LocalCheckout {
  constructor(
    private readonly db: Database,
    private readonly webhookSecret: string,
    private readonly deliver: WebhookDelivery,
  ) {}

  /** A session whose page is served at `request.origin`, where the caller reached this API. */
  async create(
    organizationId: string,
    request: CheckoutRequest,
    currency: string,
  ): Promise<CheckoutSessionView> {
    const session = await this.db.localCheckoutSession.create({
      data: {
        id: `cs_local_${token()}`,
        organizationId,
        amountCents: request.amountCents,
        currency,
        successUrl: request.successUrl,
        cancelUrl: request.cancelUrl,
        expiresAt: new Date(Date.now() + LIFETIME_MS),
      },
    });
    return {
      id: session.id,
      url: `${request.origin}${LOCAL_CHECKOUT_PATH}/${session.id}`,
      amount_cents: session.amountCents,
      currency: session.currency,
      expires_at: session.expiresAt.toISOString(),
    };
  }

  async get(id: string): Promise<LocalCheckoutView> {
    const session = await this.find(id);
    const lapsed = session.status === "open" && session.expiresAt.getTime() <= Date.now();
    return {
      id: session.id,
      status: lapsed ? "expired" : session.status,
      amount_cents: session.amountCents,
      currency: session.currency,
      success_url: session.successUrl,
      cancel_url: session.cancelUrl,
      expires_at: session.expiresAt.toISOString(),
      completed_at: session.completedAt?.toISOString() ?? null,
    };
  }

  /**
   * Completes the session and delivers its `checkout.session.completed`; returns where to send
   * the payer. Paying a completed session delivers the same event again, which the webhook
   * recognises as a duplicate: a crash between completing and delivering heals on the next Pay.
   * `origin` is where the payer reached this API: the receipt page is served there.
   */
  async pay(id: string, origin: string): Promise<string> {
    await this.db.localCheckoutSession.updateMany({
      where: { id, status: "open", expiresAt: { gt: new Date() } },
      data: {
        status: "complete",
        eventId: `evt_local_${token()}`,
        paymentIntentId: `pi_local_${token()}`,
        completedAt: new Date(),
      },
    });
    const session = await this.find(id);
    if (session.status !== "complete") {
      throw new LocalCheckoutError(
        "checkout_session_expired",
        `Checkout session ${id} was cancelled or has expired: start a new one to pay`,
      );
    }
    const payload = paidEvent(session);
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: this.webhookSecret });
    await this.deliver(Buffer.from(payload), signature);
    // Stripe's charge carries a receipt page; this stand-in's is the session's own page, now paid.
    await this.db.stripePayment.updateMany({
      where: { checkoutSessionId: session.id, receiptUrl: null },
      data: { receiptUrl: `${origin}${LOCAL_CHECKOUT_PATH}/${session.id}` },
    });
    return session.successUrl;
  }

  /** Expires an unpaid session, as leaving Stripe's page and expiring the session would. */
  async cancel(id: string): Promise<string> {
    await this.db.localCheckoutSession.updateMany({
      where: { id, status: "open" },
      data: { status: "expired" },
    });
    const session = await this.find(id);
    if (session.status === "complete") {
      throw new LocalCheckoutError(
        "checkout_session_paid",
        `Checkout session ${id} is already paid; it can no longer be cancelled`,
      );
    }
    return session.cancelUrl;
  }

  private async find(id: string): Promise<LocalCheckoutSession> {
    const session = await this.db.localCheckoutSession.findUnique({ where: { id } });
    if (!session) throw new NotFoundError("checkout session", id, "id");
    return session;
  }
}
