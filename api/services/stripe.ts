// The Stripe client, configured from STRIPE_SECRET_KEY and STRIPE_API_BASE (a stripe-mock
// compatible server in tests and development; unset means api.stripe.com).
import Stripe from "stripe";
import type { Config } from "../../config/env.ts";
import { DomainError } from "./domain-errors.ts";

export class PaymentsError extends DomainError<
  | "payments_not_configured"
  | "webhook_signature_missing"
  | "webhook_signature_invalid"
  | "webhook_event_malformed"
> {}

export function createStripeClient(
  config: Pick<Config, "stripeSecretKey" | "stripeApiBase">,
): Stripe | undefined {
  if (!config.stripeSecretKey) return undefined;
  const base = config.stripeApiBase ? new URL(config.stripeApiBase) : undefined;
  return new Stripe(config.stripeSecretKey, {
    // Retried POSTs carry an idempotency key the library adds, so a retry never pays twice.
    maxNetworkRetries: 2,
    timeout: 20_000,
    ...(base && {
      host: base.hostname,
      port: base.port || (base.protocol === "https:" ? 443 : 80),
      protocol: base.protocol === "https:" ? "https" : "http",
    }),
  });
}

export function stripeNotConfigured(variable: string): PaymentsError {
  return new PaymentsError(
    "payments_not_configured",
    `Card payments are not configured on this server: set ${variable}`,
  );
}

/** Verifies `Stripe-Signature` over the exact bytes Stripe sent and parses the event. */
export function verifiedEvent(rawBody: Buffer, signature: string | undefined, secret: string): Stripe.Event {
  if (!signature) {
    throw new PaymentsError(
      "webhook_signature_missing",
      "The Stripe-Signature header is required",
      "stripe-signature",
    );
  }
  try {
    return Stripe.webhooks.constructEvent(rawBody, signature, secret);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
      throw new PaymentsError(
        "webhook_signature_invalid",
        `The Stripe-Signature does not verify: ${reason}`,
        "stripe-signature",
      );
    }
    throw new PaymentsError(
      "webhook_event_malformed",
      `The signed webhook body is not a JSON event: ${reason}`,
    );
  }
}
