// Money as the API keeps it, integer US cents, shown and typed as dollars. Free of the DOM, so
// the server's tests import it too (they check the limits against the API's own).

/** What POST /v1/billing/checkout-sessions accepts (CHECKOUT_MIN_CENTS and CHECKOUT_MAX_CENTS). */
export const CHECKOUT_MIN_CENTS = 500;
export const CHECKOUT_MAX_CENTS = 1_000_000;

const DOLLARS = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const SIGNED_DOLLARS = new Intl.NumberFormat("en-US", {
  style: "currency",
  currency: "USD",
  signDisplay: "exceptZero",
});

/** @param {number} cents e.g. 123456 → "$1,234.56" */
export function formatCents(cents) {
  return DOLLARS.format(cents / 100);
}

/** @param {number} cents a change, e.g. -500 → "-$5.00", 2500 → "+$25.00" */
export function formatCentsChange(cents) {
  return SIGNED_DOLLARS.format(cents / 100);
}

/**
 * Reads an amount typed in dollars ("25", "$1,000.50", "7.5") as integer cents, without going
 * through floating point; null when it is not an amount.
 * @param {string} text
 * @returns {number | null}
 */
export function parseDollars(text) {
  const match = /^\$?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!match) return null;
  const whole = Number((match[1] ?? "").replaceAll(",", ""));
  const cents = whole * 100 + Number((match[2] ?? "").padEnd(2, "0"));
  return Number.isSafeInteger(cents) ? cents : null;
}
