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
 * The absolute URL to hand to the payment page. With `allowedOrigins` configured (PORTAL_ORIGINS),
 * only those are accepted and a path resolves against the first: the request's own origin comes
 * from its Host header, which a client directly in front of the API chooses. Without them (a
 * development stack serving its own portal) the origin the request reached, `apiOrigin`, is the
 * one accepted. Resolving before comparing origins catches "//evil.example", "/\evil.example"
 * and the like, which browsers read as another host.
 */
export function checkoutReturnUrl(
  value: string,
  param: string,
  apiOrigin: string,
  allowedOrigins: readonly string[],
): string {
  const accepted = allowedOrigins.length > 0 ? [...allowedOrigins] : [new URL(apiOrigin).origin];
  const base = accepted[0]!;
  const refuse = (why: string) =>
    new ReturnUrlError(
      `${param} ${why}: accepted are a path starting with "/" (on ${base}) or an http(s) URL on ${accepted.join(", ")}`,
      param,
    );
  let url: URL;
  try {
    url = value.startsWith("/") ? new URL(value, base) : new URL(value);
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
