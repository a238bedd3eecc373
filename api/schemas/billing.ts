import { Type } from "@sinclair/typebox";
import { CHECKOUT_MAX_CENTS, CHECKOUT_MIN_CENTS } from "../services/billing.ts";
import { listOf, StringEnum } from "./common.ts";

export const Balance = Type.Object(
  {
    available_cents: Type.Integer({ description: "Credits free to spend, in US cents" }),
    reserved_cents: Type.Integer({ description: "Credits held for running jobs, in US cents" }),
  },
  { title: "Balance" },
);

export const BalanceTransaction = Type.Object(
  {
    id: Type.String({ description: "txn_..." }),
    type: StringEnum(["top_up", "reservation", "release", "charge", "refund", "dispute"]),
    description: Type.String(),
    available_change_cents: Type.Integer({ description: "Change to available credits" }),
    reserved_change_cents: Type.Integer({ description: "Change to reserved credits" }),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "BalanceTransaction" },
);

export const BalanceTransactionList = listOf(BalanceTransaction, "BalanceTransactionList");

export const Payment = Type.Object(
  {
    id: Type.String({ description: "The Checkout Session paid: cs_..." }),
    status: StringEnum(["processing", "paid", "failed"], {
      description:
        "processing: a delayed method (bank debit) has not settled yet, nothing credited; paid: " +
        "credited; failed: the delayed payment did not go through, nothing credited",
    }),
    amount_cents: Type.Integer(),
    refunded_cents: Type.Integer({ description: "Taken back from the balance by refunds" }),
    disputed_cents: Type.Integer({ description: "Taken back from the balance by disputes" }),
    receipt_url: Type.Union([Type.String({ format: "uri" }), Type.Null()], {
      description:
        "The payment's receipt page (Stripe's, or on a development stack without Stripe the local checkout's); " +
        "null until there is one: a delayed method has none before it settles",
    }),
    created_at: Type.String({ format: "date-time" }),
    updated_at: Type.String({ format: "date-time" }),
  },
  { title: "Payment" },
);

export const PaymentList = listOf(Payment, "PaymentList");

export const CheckoutSessionBody = Type.Object(
  {
    amount_cents: Type.Integer({
      minimum: CHECKOUT_MIN_CENTS,
      maximum: CHECKOUT_MAX_CENTS,
      description: `Credits to buy, in US cents (${CHECKOUT_MIN_CENTS} to ${CHECKOUT_MAX_CENTS})`,
    }),
    success_url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description:
        'Where the payment page returns after paying: a path ("/portal/?checkout=done") or an http(s) URL on ' +
        "an origin listed in PORTAL_ORIGINS (a path resolves against the first), or, without that list, on " +
        "the origin the request reached; anything else is refused with 400 return_url_refused",
    }),
    cancel_url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description:
        'Where the payment page returns if the payer cancels: a path ("/portal/?checkout=done") or an http(s) URL on ' +
        "an origin listed in PORTAL_ORIGINS (a path resolves against the first), or, without that list, on " +
        "the origin the request reached; anything else is refused with 400 return_url_refused",
    }),
  },
  { additionalProperties: false },
);

export const CheckoutSession = Type.Object(
  {
    id: Type.String({
      description: "The Checkout Session id: cs_..., or cs_local_... for a local stack's test payment",
    }),
    url: Type.String({ description: "Where to send the user to pay" }),
    amount_cents: Type.Integer(),
    currency: Type.String(),
    expires_at: Type.String({ format: "date-time" }),
  },
  { title: "CheckoutSession" },
);

export const WebhookAck = Type.Object(
  {
    received: Type.Literal(true),
    outcome: StringEnum(["processed", "duplicate", "ignored"], {
      description:
        "processed; duplicate (an earlier delivery was processed); ignored (not an event we act on)",
    }),
  },
  { title: "WebhookAck" },
);
