// Usage by month from the ledger's transactions: what was bought, what training cost, what
// refunds and disputes took back. Reservations and their releases only move credits between
// available and reserved, so they cancel out; a charge's cost is what left the balance in all.
// Free of the DOM, so the server's tests check the sums.

/**
 * @typedef {{ type: string, available_change_cents: number, reserved_change_cents: number,
 *   created_at: string }} Transaction
 * @typedef {{ month: string, bought_cents: number, training_cents: number, taken_back_cents: number,
 *   jobs: number }} MonthUsage
 */

/**
 * @param {Transaction[]} transactions in any order
 * @returns {MonthUsage[]} one entry per month (UTC, "2026-12") that has any, newest first
 */
export function monthlyUsage(transactions) {
  /** @type {Map<string, MonthUsage>} */
  const months = new Map();
  for (const txn of transactions) {
    const month = txn.created_at.slice(0, 7);
    let usage = months.get(month);
    if (!usage) {
      usage = { month, bought_cents: 0, training_cents: 0, taken_back_cents: 0, jobs: 0 };
      months.set(month, usage);
    }
    const net = txn.available_change_cents + txn.reserved_change_cents;
    if (txn.type === "top_up") usage.bought_cents += net;
    else if (txn.type === "charge") {
      usage.training_cents -= net;
      usage.jobs += 1;
    } else if (txn.type === "refund" || txn.type === "dispute") usage.taken_back_cents -= net;
  }
  return [...months.values()].sort((a, b) => b.month.localeCompare(a.month));
}

/** @param {string} month "2026-12" → "December 2026" */
export function monthName(month) {
  const [year, number] = month.split("-").map(Number);
  return new Date(Date.UTC(year ?? 1970, (number ?? 1) - 1, 1)).toLocaleString("en-US", {
    month: "long",
    year: "numeric",
    timeZone: "UTC",
  });
}
