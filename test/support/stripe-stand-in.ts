// A local stand-in for the part of Stripe's HTTP API the billing service calls (creating Checkout
// Sessions, reading a PaymentIntent with its charge), started per test file, plus builders for the webhook events Stripe would send,
// signed with the stripe package's own test helper. Point STRIPE_API_BASE at `url`.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";
import type { Config } from "../../config/env.ts";

type FormValue = string | FormObject;
interface FormObject {
  [key: string]: FormValue;
}

export interface StandInSession {
  id: string;
  object: "checkout.session";
  amount_total: number;
  currency: string;
  client_reference_id: string | null;
  metadata: Record<string, string>;
  mode: string;
  payment_status: "paid" | "unpaid";
  status: "open" | "complete";
  success_url: string;
  cancel_url: string;
  url: string;
  payment_intent: string | null;
  created: number;
  expires_at: number;
  livemode: false;
}

export interface StandInCharge {
  id: string;
  object: "charge";
  amount: number;
  currency: string;
  payment_intent: string;
  paid: true;
  receipt_url: string;
}

export interface SignedDelivery {
  payload: string;
  headers: Record<string, string>;
}

export interface StripeStandIn {
  url: string;
  /** Config overrides for createTestApp: the secret key, webhook secret and API base. */
  config: Pick<Config, "stripeSecretKey" | "stripeWebhookSecret" | "stripeApiBase">;
  /** Sessions created so far, by id, as the stand-in returned them. */
  sessions: Map<string, StandInSession>;
  /** The decoded form of every create request, in order. */
  requests: FormObject[];
  /** Each paid PaymentIntent's charge, as `latest_charge` expands to. */
  charges: Map<string, StandInCharge>;
  /** While true, reading a PaymentIntent answers 500, as Stripe does in an outage. */
  paymentIntentsDown: boolean;
  /** `charge.succeeded` for a PaymentIntent the stand-in completed. */
  chargeSucceededEvent(paymentIntent: string): Stripe.Event;
  /** The session as Stripe sends it in `checkout.session.completed` once the card was charged. */
  completedEvent(sessionId: string, paymentStatus?: "paid" | "unpaid"): Stripe.Event;
  refundedEvent(paymentIntent: string, amount: number, amountRefunded: number): Stripe.Event;
  disputeEvent(paymentIntent: string, amount: number): Stripe.Event;
  event(type: string, object: Record<string, unknown>): Stripe.Event;
  /** The request Stripe would make to the webhook endpoint for this event. */
  sign(event: Stripe.Event, secret?: string): SignedDelivery;
  close(): Promise<void>;
}

const token = (bytes: number) => randomBytes(bytes).toString("hex");

/** Decodes Stripe's form encoding (`line_items[0][price_data][currency]=usd`) into objects. */
function decodeForm(body: string): FormObject {
  const root: FormObject = {};
  for (const [name, value] of new URLSearchParams(body)) {
    const path = name.split(/\[|\]\[|\]/).filter((part) => part !== "");
    let node = root;
    for (const [i, part] of path.entries()) {
      if (i === path.length - 1) node[part] = value;
      else {
        const next = node[part];
        node[part] = typeof next === "object" ? next : {};
        node = node[part] as FormObject;
      }
    }
  }
  return root;
}

function field(form: FormObject, ...path: string[]): string | undefined {
  let node: FormValue | undefined = form;
  for (const part of path) node = typeof node === "object" ? node[part] : undefined;
  return typeof node === "string" ? node : undefined;
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json", "request-id": `req_${token(8)}` });
  res.end(JSON.stringify(body));
}

function stripeError(res: ServerResponse, status: number, message: string, param?: string) {
  send(res, status, { error: { type: "invalid_request_error", message, ...(param && { param }) } });
}

export async function startStripeStandIn(): Promise<StripeStandIn> {
  const secretKey = `sk_test_${token(12)}`;
  const webhookSecret = `whsec_${token(16)}`;
  const sessions = new Map<string, StandInSession>();
  const requests: FormObject[] = [];

  const replies = new Map<string, StandInSession>();
  const charges = new Map<string, StandInCharge>();
  let standIn: StripeStandIn;

  function readPaymentIntent(url: URL, res: ServerResponse) {
    if (standIn.paymentIntentsDown) return stripeError(res, 500, "An unknown error occurred");
    const id = decodeURIComponent(url.pathname.slice("/v1/payment_intents/".length));
    const charge = charges.get(id);
    if (!charge) return stripeError(res, 404, `No such payment_intent: '${id}'`, "intent");
    const expanded = url.searchParams.getAll("expand[0]").includes("latest_charge");
    send(res, 200, {
      id,
      object: "payment_intent",
      amount: charge.amount,
      currency: charge.currency,
      status: "succeeded",
      latest_charge: expanded ? charge : charge.id,
    });
  }

  async function createSession(req: IncomingMessage, res: ServerResponse) {
    const idempotencyKey = req.headers["idempotency-key"];
    const earlier = typeof idempotencyKey === "string" ? replies.get(idempotencyKey) : undefined;
    if (earlier) return send(res, 200, earlier);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = decodeForm(Buffer.concat(chunks).toString("utf8"));
    requests.push(form);
    for (const required of ["mode", "success_url", "cancel_url"]) {
      if (!field(form, required))
        return stripeError(res, 400, `Missing required param: ${required}.`, required);
    }
    const unitAmount = Number(field(form, "line_items", "0", "price_data", "unit_amount"));
    const quantity = Number(field(form, "line_items", "0", "quantity") ?? "1");
    const currency = field(form, "line_items", "0", "price_data", "currency");
    if (!Number.isInteger(unitAmount) || !currency) {
      return stripeError(res, 400, "line_items[0][price_data] needs unit_amount and currency.", "line_items");
    }
    const id = `cs_test_${token(24)}`;
    const created = Math.floor(Date.now() / 1000);
    const metadata = form.metadata;
    const session: StandInSession = {
      id,
      object: "checkout.session",
      amount_total: unitAmount * quantity,
      currency,
      client_reference_id: field(form, "client_reference_id") ?? null,
      metadata: typeof metadata === "object" ? (metadata as Record<string, string>) : {},
      mode: field(form, "mode")!,
      payment_status: "unpaid",
      status: "open",
      success_url: field(form, "success_url")!,
      cancel_url: field(form, "cancel_url")!,
      url: `https://checkout.stripe.com/c/pay/${id}`,
      payment_intent: null,
      created,
      expires_at: created + 24 * 3600,
      livemode: false,
    };
    sessions.set(id, session);
    if (typeof idempotencyKey === "string") replies.set(idempotencyKey, session);
    send(res, 200, session);
  }

  const server = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${secretKey}`) {
      return send(res, 401, {
        error: { type: "invalid_request_error", message: "Invalid API Key provided" },
      });
    }
    if (req.method === "POST" && req.url === "/v1/checkout/sessions") {
      createSession(req, res).catch((error: unknown) => stripeError(res, 500, String(error)));
      return;
    }
    const url = new URL(req.url ?? "/", "http://stand-in");
    if (req.method === "GET" && url.pathname.startsWith("/v1/payment_intents/"))
      return readPaymentIntent(url, res);
    stripeError(res, 404, `Unrecognized request URL (${req.method}: ${req.url}).`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const event = (type: string, object: Record<string, unknown>): Stripe.Event =>
    ({
      id: `evt_${token(12)}`,
      object: "event",
      api_version: Stripe.API_VERSION,
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
      data: { object },
    }) as unknown as Stripe.Event;

  standIn = {
    url,
    config: { stripeSecretKey: secretKey, stripeWebhookSecret: webhookSecret, stripeApiBase: url },
    sessions,
    requests,
    charges,
    paymentIntentsDown: false,
    event,
    chargeSucceededEvent(paymentIntent) {
      const charge = charges.get(paymentIntent);
      if (!charge) throw new Error(`the stand-in charged no payment intent ${paymentIntent}`);
      return event("charge.succeeded", { ...charge });
    },
    completedEvent(sessionId, paymentStatus = "paid") {
      const session = sessions.get(sessionId);
      if (!session) throw new Error(`the stand-in created no session ${sessionId}`);
      const completed: StandInSession = {
        ...session,
        status: "complete",
        payment_status: paymentStatus,
        payment_intent: session.payment_intent ?? `pi_${token(12)}`,
      };
      sessions.set(sessionId, completed);
      if (paymentStatus === "paid" && !charges.has(completed.payment_intent!)) {
        charges.set(completed.payment_intent!, {
          id: `ch_${token(12)}`,
          object: "charge",
          amount: completed.amount_total,
          currency: completed.currency,
          payment_intent: completed.payment_intent!,
          paid: true,
          receipt_url: `https://pay.stripe.com/receipts/payment/${token(24)}`,
        });
      }
      return event("checkout.session.completed", { ...completed });
    },
    refundedEvent(paymentIntent, amount, amountRefunded) {
      return event("charge.refunded", {
        id: `ch_${token(12)}`,
        object: "charge",
        amount,
        amount_refunded: amountRefunded,
        currency: "usd",
        payment_intent: paymentIntent,
        refunded: amountRefunded >= amount,
      });
    },
    disputeEvent(paymentIntent, amount) {
      return event("charge.dispute.created", {
        id: `dp_${token(12)}`,
        object: "dispute",
        amount,
        currency: "usd",
        charge: `ch_${token(12)}`,
        payment_intent: paymentIntent,
        reason: "fraudulent",
        status: "needs_response",
      });
    },
    sign(stripeEvent, secret = webhookSecret) {
      const payload = JSON.stringify(stripeEvent, null, 2);
      const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret });
      return { payload, headers: { "content-type": "application/json", "stripe-signature": signature } };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return standIn;
}
