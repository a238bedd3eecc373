// Usage and payments: what each month cost (credits bought, training charged, refunds and
// disputes taken back), summed from the ledger's transactions, and the card payments with their
// status (a delayed method may still be processing, or have failed).
import { get, isAbort, pagePath } from "../api.js";
import { h, instantiate, pagedList, showError, time } from "../dom.js";
import { formatCents } from "../money.js";
import { monthlyUsage, monthName } from "../monthly-usage.js";

/** Transactions read for the monthly sums, a page at a time: enough for years of normal use. */
const MAX_TRANSACTIONS = 5000;
const PAGE = 100;

/**
 * @typedef {{ id: string, status: string, amount_cents: number, refunded_cents: number,
 *   disputed_cents: number, receipt_url: string | null, created_at: string, updated_at: string }} Payment
 * @typedef {import("../monthly-usage.js").Transaction & { id: string }} Transaction
 */

/** @param {AbortSignal} signal */
async function allTransactions(signal) {
  /** @type {Transaction[]} */
  const transactions = [];
  /** @type {string | undefined} */
  let after;
  for (;;) {
    const page = await get(pagePath("/v1/billing/transactions", after, PAGE), signal);
    transactions.push(...page.data);
    if (!page.has_more || page.data.length === 0 || transactions.length >= MAX_TRANSACTIONS) {
      return { transactions, complete: !page.has_more };
    }
    after = page.data[page.data.length - 1].id;
  }
}

/** @param {Payment} payment */
function paymentStatus(payment) {
  const text = {
    paid: "paid",
    processing: "processing: credited once the bank confirms it",
    failed: "failed: nothing was credited",
  }[payment.status];
  return h("span", { class: `status status-${payment.status}` }, text ?? payment.status);
}

/**
 * A link to the payment's receipt, opened apart from the portal; a dash until there is one.
 * @param {Payment} payment
 */
function receiptLink(payment) {
  const url = payment.receipt_url;
  if (url === null || !/^https?:\/\//.test(url)) return "—";
  return h(
    "a",
    {
      href: url,
      target: "_blank",
      rel: "noopener noreferrer",
      "aria-label": `Receipt for the payment of ${formatCents(payment.amount_cents)}`,
    },
    "Receipt",
  );
}

/** @param {import("../app.js").ViewContext} context */
export async function renderUsage({ main, signal }) {
  const { fragment, refs } = instantiate("view-usage");
  const payments = pagedList({
    refs: { rows: refs["payment-rows"], empty: refs["payment-empty"] },
    fetchPage: (after) => get(pagePath("/v1/billing/payments", after, 20), signal),
    /** @param {Payment} payment */
    row: (payment) => {
      const takenBack = payment.refunded_cents + payment.disputed_cents;
      return h(
        "tr",
        {},
        h("td", {}, time(payment.created_at)),
        h("td", { class: "num" }, formatCents(payment.amount_cents)),
        h("td", {}, paymentStatus(payment)),
        h("td", { class: "num" }, takenBack === 0 ? "—" : `-${formatCents(takenBack)}`),
        h("td", {}, receiptLink(payment)),
        h("td", {}, h("code", {}, payment.id)),
      );
    },
  });
  main.append(fragment);

  const showMonths = async () => {
    try {
      const { transactions, complete } = await allTransactions(signal);
      const months = monthlyUsage(transactions);
      refs["month-rows"].replaceChildren(
        ...months.map((m) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, monthName(m.month)),
            h("td", { class: "num" }, formatCents(m.bought_cents)),
            h("td", { class: "num" }, formatCents(m.training_cents)),
            h("td", { class: "num" }, String(m.jobs)),
            h("td", { class: "num" }, formatCents(m.taken_back_cents)),
          ),
        ),
      );
      refs["month-empty"].hidden = months.length > 0;
      refs["month-partial"].hidden = complete;
    } catch (error) {
      if (!isAbort(error)) showError(refs["month-error"], error);
    }
  };
  await Promise.all([showMonths(), payments.more()]);
}
