// Where a payment page may send the payer back to. A checkout session's return addresses are
// followed by the payer's browser from Stripe's (or the local test) page: left open, anyone with an
// API key could mint a genuine payment link that ends on a page of their own (an open redirect
// under our name). Only the portal's origins are accepted, or a path on the API's own origin.
import { DomainError } from "./domain-errors.ts";

export class ReturnUrlError extends DomainError<"return_url_refused"> {
  constructor(message: string, param: string) {
    super("return_url_refused", message, param);
  }
}

/**
 * The absolute URL to hand to the payment page. `value` is a path ("/portal/?paid=1", resolved
 * against `apiOrigin`) or an http(s) URL on one of `allowedOrigins`; `apiOrigin` is allowed too.
 * Resolving before comparing origins catches "//evil.example", "/\evil.example" and the like,
 * which browsers read as another host.
 */
export function checkoutReturnUrl(
  value: string,
  param: string,
  apiOrigin: string,
  allowedOrigins: readonly string[],
): string {
  const own = new URL(apiOrigin).origin;
  const accepted = [own, ...allowedOrigins.filter((origin) => origin !== own)];
  const refuse = (why: string) =>
    new ReturnUrlError(
      `${param} ${why}: accepted are a path starting with "/" on this API, or an http(s) URL on ${accepted.join(", ")}`,
      param,
    );
  let url: URL;
  try {
    url = value.startsWith("/") ? new URL(value, own) : new URL(value);
  } catch {
    throw refuse(`is not a URL ("${value.slice(0, 100)}")`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw refuse(`uses ${url.protocol}`);
  }
  if (url.username || url.password) throw refuse("carries credentials");
  if (!accepted.includes(url.origin)) throw refuse(`leads to ${url.origin}`);
  return url.href;
}
