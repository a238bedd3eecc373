// Balance, card top-ups through Stripe Checkout, and the ledger's transactions. After paying,
// Stripe sends the browser back here (`?checkout=success`) while its webhook credits the balance
// on its own schedule, so the page watches the balance for a while until the credits arrive. A
// local stack without Stripe keys sends the browser to its own test payment page instead, which
// comes back the same way; the texts name no payment provider, since either may be on the trip.
import { ApiError, get, isAbort, pagePath, post } from "../api.js";
import {
  bindForm,
  clearError,
  h,
  instantiate,
  pagedList,
  pause,
  secretPanel,
  showError,
  time,
} from "../dom.js";
import {
  CHECKOUT_MAX_CENTS,
  CHECKOUT_MIN_CENTS,
  formatCents,
  formatCentsChange,
  parseDollars,
} from "../money.js";

/** The top-up under way, kept across the trip to Stripe and back. */
const PENDING_KEY = "veritrain.checkout";
const CONFIRM_ATTEMPTS = 30;
const CONFIRM_INTERVAL_MS = 1000;

/**
 * @typedef {{ available_cents: number, reserved_cents: number }} Balance
 * @typedef {{ id: string, type: string, description: string, available_change_cents: number,
 *   reserved_change_cents: number, created_at: string }} Transaction
 */

/** @param {import("../app.js").ViewContext} context */
export async function renderBilling({ main, signal, portal }) {
  const { fragment, refs } = instantiate("view-billing");
  if (portal.newSecret) {
    refs["first-key"].append(secretPanel(portal.newSecret.title, portal.newSecret.secret));
    portal.newSecret = null;
  }
  refs["buy-hint"].textContent =
    `From ${formatCents(CHECKOUT_MIN_CENTS)} to ${formatCents(CHECKOUT_MAX_CENTS)}, ` +
    "paid by card on the checkout page.";

  /** @type {Balance | null} */
  let balance = null;
  const refreshBalance = async () => {
    try {
      balance = /** @type {Balance} */ (await get("/v1/billing/balance", signal));
      refs.available.textContent = formatCents(balance.available_cents);
      refs.reserved.textContent = formatCents(balance.reserved_cents);
      clearError(refs["balance-error"]);
    } catch (error) {
      if (!isAbort(error)) showError(refs["balance-error"], error);
    }
    return balance;
  };

  const transactions = pagedList({
    refs,
    fetchPage: (after) => get(pagePath("/v1/billing/transactions", after, 20), signal),
    /** @param {Transaction} txn */
    row: (txn) =>
      h(
        "tr",
        {},
        h("td", {}, time(txn.created_at)),
        h("td", {}, txn.description),
        h("td", { class: "num" }, formatCentsChange(txn.available_change_cents)),
        h("td", { class: "num" }, formatCentsChange(txn.reserved_change_cents)),
      ),
  });

  bindForm(/** @type {HTMLFormElement} */ (refs["buy-form"]), refs["buy-error"], async ({ amount = "" }) => {
    const cents = parseDollars(amount);
    if (cents === null || cents < CHECKOUT_MIN_CENTS || cents > CHECKOUT_MAX_CENTS) {
      throw new ApiError(0, {
        type: "invalid_request_error",
        code: "amount_invalid",
        message: `Enter an amount in dollars from ${formatCents(CHECKOUT_MIN_CENTS)} to ${formatCents(CHECKOUT_MAX_CENTS)}, such as 25 or 25.50.`,
        param: "amount_cents",
      });
    }
    const back = `${location.origin}${location.pathname}`;
    const session = await post("/v1/billing/checkout-sessions", {
      amount_cents: cents,
      success_url: `${back}?checkout=success#/`,
      cancel_url: `${back}?checkout=cancelled#/`,
    });
    sessionStorage.setItem(
      PENDING_KEY,
      JSON.stringify({ amount_cents: cents, available_cents: balance?.available_cents ?? null }),
    );
    location.assign(session.url);
  });

  main.append(fragment);
  const [shown] = await Promise.all([refreshBalance(), transactions.more()]);
  await confirmCheckout(refs["checkout-notice"], signal, shown, refreshBalance, () => transactions.reload());
}

/**
 * On the way back from Stripe: says what happened and, after a payment, waits for the webhook's
 * credit to show in the balance.
 * @param {HTMLElement} notice
 * @param {AbortSignal} signal
 * @param {Balance | null} shown the balance on the page now
 * @param {() => Promise<Balance | null>} refreshBalance
 * @param {() => Promise<void>} reloadTransactions
 */
async function confirmCheckout(notice, signal, shown, refreshBalance, reloadTransactions) {
  const outcome = new URLSearchParams(location.search).get("checkout");
  if (!outcome) return;
  history.replaceState(null, "", `${location.pathname}${location.hash}`);
  /** @type {{ amount_cents: number, available_cents: number | null } | null} */
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? "null");
  sessionStorage.removeItem(PENDING_KEY);
  notice.hidden = false;
  if (outcome !== "success") {
    notice.textContent = "Checkout was cancelled: nothing was charged.";
    return;
  }
  if (pending?.available_cents == null) {
    notice.textContent =
      "Payment received. The credits appear in your balance as soon as the payment is confirmed.";
    return;
  }
  const amount = formatCents(pending.amount_cents);
  const expected = pending.available_cents + pending.amount_cents;
  notice.textContent = `Payment received. Waiting for the confirmation of ${amount}…`;
  for (let attempt = 0; attempt < CONFIRM_ATTEMPTS && !signal.aborted; attempt++) {
    let balance = shown;
    if (attempt > 0) {
      await pause(CONFIRM_INTERVAL_MS, signal);
      balance = await refreshBalance();
    }
    if (balance && balance.available_cents >= expected) {
      notice.textContent = `${amount} of credits added. Thank you!`;
      if (attempt > 0) await reloadTransactions();
      return;
    }
  }
  notice.textContent =
    "The payment is not confirmed yet. Your credits appear here once it is; reload the page in a minute.";
}
