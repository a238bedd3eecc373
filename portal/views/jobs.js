// Training jobs: the list, and one job's page (status, steps, price, events, and the trained
// model and receipt once it succeeded). A job still in progress is polled until it finishes.
import { get, isAbort, pagePath } from "../api.js";
import { clearError, h, instantiate, pagedList, pause, showError, time } from "../dom.js";
import { formatCents } from "../money.js";

const FINAL_STATUSES = new Set(["succeeded", "failed", "cancelled"]);
const POLL_INTERVAL_MS = 3000;

/**
 * @typedef {{ id: string, status: string, failure_reason: string | null, model: string,
 *   dataset: string, verification: string, total_steps: number, steps_completed: number,
 *   price: { quoted_cents: number, reserved_cents: number, charged_cents: number | null },
 *   result: { model_sha256: string | null }, created_at: string, finished_at: string | null }} Job
 * @typedef {{ id: number, type: string, data: Record<string, unknown>, created_at: string }} JobEvent
 */

/** @param {string} status */
function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, status);
}

/** @param {Job} job the charged price once settled, else the quote */
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
    /** @param {Job} job */
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

/** @param {import("../app.js").ViewContext} context */
export async function renderJob({ main, params, signal }) {
  const id = params[0] ?? "";
  const { fragment, refs } = instantiate("view-job");
  refs.id.textContent = id;
  const progress = /** @type {HTMLProgressElement} */ (refs.progress);
  const base = `/v1/training-jobs/${encodeURIComponent(id)}`;

  /** @returns {Promise<Job | null>} */
  const refresh = async () => {
    try {
      const job = /** @type {Job} */ (await get(base, signal));
      clearError(refs["job-error"]);
      show(job);
      return job;
    } catch (error) {
      if (!isAbort(error)) showError(refs["job-error"], error);
      return null;
    }
  };

  /** @param {Job} job */
  const show = (job) => {
    refs.status.replaceChildren(statusBadge(job.status));
    progress.max = Math.max(job.total_steps, 1);
    progress.value = job.steps_completed;
    refs.steps.textContent = `${job.steps_completed} of ${job.total_steps} steps`;
    refs.price.textContent =
      `${formatCents(job.price.quoted_cents)} quoted, ${formatCents(job.price.reserved_cents)} reserved, ` +
      (job.price.charged_cents === null
        ? "not charged yet"
        : `${formatCents(job.price.charged_cents)} charged`);
    refs.verification.textContent = job.verification;
    refs.model.textContent = job.model;
    refs.dataset.textContent = job.dataset;
    refs.created.replaceChildren(time(job.created_at));
    refs.finished.replaceChildren(time(job.finished_at));
    refs.failure.hidden = job.failure_reason === null;
    refs.failure.textContent = job.failure_reason ? `Failure: ${job.failure_reason}` : "";
    refs.results.hidden = job.status !== "succeeded";
    if (job.status === "succeeded") {
      refs.links.replaceChildren(
        h("li", {}, h("a", { href: `${base}/model`, download: true }, "Download the trained model (ONNX)")),
        h(
          "li",
          {},
          h("a", { href: `${base}/receipt` }, "Verification receipt (JSON)"),
          ": anyone can verify it offline with the SDK",
        ),
      );
      refs["model-sha"].textContent = job.result.model_sha256 ?? "";
    }
  };

  const events = pagedList({
    refs,
    fetchPage: (after) => get(pagePath(`${base}/events`, after, 100), signal),
    /** @param {JobEvent} event */
    row: (event) =>
      h(
        "tr",
        {},
        h("td", {}, time(event.created_at)),
        h("td", {}, h("code", {}, event.type)),
        h("td", {}, h("code", { class: "data" }, JSON.stringify(event.data))),
      ),
  });

  main.append(fragment);
  let job = await refresh();
  if (!job) {
    for (const section of main.querySelectorAll("section")) section.hidden = true;
    return;
  }
  await events.more();
  while (!FINAL_STATUSES.has(job.status)) {
    await pause(POLL_INTERVAL_MS, signal);
    if (signal.aborted) return;
    job = (await refresh()) ?? job;
    if (!events.hasMore) await events.more();
  }
}
