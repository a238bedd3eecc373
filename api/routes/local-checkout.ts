// The local checkout's payment page (api/services/local-checkout.ts): a development stack without
// Stripe keys sends payers here instead of to Stripe Checkout. In production, or with Stripe
// configured, these routes are not registered. Like Stripe's page, it is for a browser, not part of the
// API reference; its session id, long and random, is what lets a visitor pay or cancel.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import {
  LOCAL_CHECKOUT_PATH,
  type LocalCheckout,
  type LocalCheckoutView,
} from "../services/local-checkout.ts";

const Params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function money(cents: number, currency: string): string {
  return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() }).format(
    cents / 100,
  );
}

/**
 * The portal's stylesheet, nothing inline, no framing, and no Referer: the page's address is
 * the session's capability. Chrome checks form-action against redirects too, so the origins the
 * buttons lead back to are allowed besides this one.
 */
function headers(session: LocalCheckoutView): Record<string, string> {
  const origins = new Set([new URL(session.success_url).origin, new URL(session.cancel_url).origin]);
  return {
    "content-security-policy": [
      "default-src 'none'",
      "style-src 'self'",
      "img-src 'self'",
      `form-action 'self' ${[...origins].join(" ")}`,
      "base-uri 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
  };
}

function content(session: LocalCheckoutView): string {
  const amount = money(session.amount_cents, session.currency);
  const action = (verb: string) => `${LOCAL_CHECKOUT_PATH}/${encodeURIComponent(session.id)}/${verb}`;
  if (session.status === "complete") {
    return `<h1 id="title">Receipt</h1>
      <p class="notice">This test payment is complete: ${amount} of credits were added. No card was charged.</p>
      <dl class="details">
        <dt>Amount paid</dt><dd data-testid="amount">${amount}</dd>
        <dt>For</dt><dd>Veritrain training credits</dd>
        <dt>Paid</dt><dd>${escapeHtml(new Date(session.completed_at ?? session.expires_at).toUTCString())}</dd>
        <dt>Session</dt><dd><code class="data">${escapeHtml(session.id)}</code></dd>
      </dl>
      <p><a href="${escapeHtml(session.success_url)}">Continue</a></p>`;
  }
  if (session.status === "expired") {
    return `<h1 id="title">Checkout closed</h1>
      <p class="notice">This checkout was cancelled or has expired: nothing was paid.</p>
      <p><a href="${escapeHtml(session.cancel_url)}">Back</a></p>`;
  }
  return `<h1 id="title">Pay ${amount}</h1>
      <p class="notice"><strong>Test payment — no card is charged.</strong> This stack has no Stripe
        account (STRIPE_SECRET_KEY is unset), so it takes the payment itself. Paying credits your
        balance exactly as a card payment through Stripe would.</p>
      <dl class="details">
        <dt>Amount</dt><dd data-testid="amount">${amount}</dd>
        <dt>For</dt><dd>Veritrain training credits</dd>
        <dt>Session</dt><dd><code class="data">${escapeHtml(session.id)}</code></dd>
        <dt>Expires</dt><dd>${escapeHtml(new Date(session.expires_at).toUTCString())}</dd>
      </dl>
      <div class="actions checkout-actions">
        <form method="post" action="${escapeHtml(action("cancel"))}">
          <button type="submit" class="secondary">Cancel</button>
        </form>
        <form method="post" action="${escapeHtml(action("pay"))}">
          <button type="submit">Pay ${amount}</button>
        </form>
      </div>`;
}

function page(session: LocalCheckoutView): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Test payment · Veritrain</title>
    <link rel="icon" href="/portal/favicon.svg" type="image/svg+xml">
    <link rel="stylesheet" href="/portal/styles.css">
  </head>
  <body>
    <header class="topbar"><a class="brand" href="/portal/">Veritrain</a></header>
    <main id="main">
      <section class="card narrow" aria-labelledby="title">
      ${content(session)}
      </section>
    </main>
  </body>
</html>
`;
}

export interface LocalCheckoutRoutesOptions {
  localCheckout: LocalCheckout;
}

const localCheckoutRoutes: FastifyPluginAsyncTypebox<LocalCheckoutRoutesOptions> = async (
  app,
  { localCheckout: local },
) => {
  // A browser posts the page's forms urlencoded; they carry no fields, so the body is ignored.
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string" },
    (_request, _body, done) => done(null, undefined),
  );

  app.get(
    `${LOCAL_CHECKOUT_PATH}/:id`,
    { schema: { hide: true, params: Params } },
    async (request, reply) => {
      const session = await local.get(request.params.id);
      return reply.headers(headers(session)).type("text/html; charset=utf-8").send(page(session));
    },
  );

  app.post(
    `${LOCAL_CHECKOUT_PATH}/:id/pay`,
    { schema: { hide: true, params: Params } },
    async (request, reply) =>
      reply.redirect(await local.pay(request.params.id, `${request.protocol}://${request.host}`), 303),
  );

  app.post(
    `${LOCAL_CHECKOUT_PATH}/:id/cancel`,
    { schema: { hide: true, params: Params } },
    async (request, reply) => reply.redirect(await local.cancel(request.params.id), 303),
  );
};

export default localCheckoutRoutes;
