// Training jobs: the list, newest first, each linking to its own page (views/job.js).
import { get, pagePath } from "../api.js";
import { h, instantiate, pagedList, time } from "../dom.js";
import { formatCents } from "../money.js";

export const FINAL_STATUSES = new Set(["succeeded", "failed", "cancelled"]);

/**
 * @typedef {{ id: string, status: string, total_steps: number, steps_completed: number,
 *   price: { quoted_cents: number, charged_cents: number | null }, created_at: string }} JobRow
 */

/** @param {string} status */
export function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, status);
}

/** @param {JobRow} job the charged price once settled, else the quote */
function priceText(job) {
  return job.price.charged_cents === null
    ? `${formatCents(job.price.quoted_cents)} quoted`
    : `${formatCents(job.price.charged_cents)} charged`;
}

/** @param {import("../app.js").ViewContext} context */
export async function renderJobs({ main, signal }) {
  const { fragment, refs } = instantiate("view-jobs");
  const jobs = pagedList({
    refs,
    fetchPage: (after) => get(pagePath("/v1/training-jobs", after, 20), signal),
    /** @param {JobRow} job */
    row: (job) =>
      h(
        "tr",
        {},
        h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, h("code", {}, job.id))),
        h("td", {}, statusBadge(job.status)),
        h("td", { class: "num" }, `${job.steps_completed} / ${job.total_steps}`),
        h("td", { class: "num" }, priceText(job)),
        h("td", {}, time(job.created_at)),
      ),
  });
  main.append(fragment);
  await jobs.more();
}
