// One training job: its summary, a live loss chart and the timeline of what happened to it in
// plain words, both fed by the job's event stream; a cancel button (after a confirmation) while it
// can still be cancelled, and the trained model and receipt once it succeeded.
import { call, get, isAbort } from "../api.js";
import { clearError, h, instantiate, showError, time } from "../dom.js";
import { followJobEvents } from "../event-stream.js";
import { describeEvent } from "../job-timeline.js";
import { lossChart } from "../loss-chart.js";
import { formatCents } from "../money.js";
import { FINAL_STATUSES, statusBadge } from "./jobs.js";

/**
 * @typedef {{ id: string, status: string, failure_reason: string | null, model: string,
 *   dataset: string, verification: string, total_steps: number, steps_completed: number,
 *   price: { quoted_cents: number, reserved_cents: number, charged_cents: number | null },
 *   result: { model_sha256: string | null }, created_at: string, finished_at: string | null,
 *   init_from: { job: string, step: number, checkpoint_sha256: string } | null }} Job
 */

const CLOCK = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/**
 * An event's time of day to the second: a job's events are seconds apart, its date is in the summary.
 * @param {string} iso
 */
const clock = (iso) =>
  h("time", { datetime: iso, title: new Date(iso).toISOString() }, CLOCK.format(new Date(iso)));

/** @typedef {Parameters<ReturnType<typeof lossChart>["addEpoch"]>[0]} EpochFigures */

/** Events after which the job object itself changed (status, steps, price). */
const JOB_CHANGING_EVENTS = new Set([
  "job.dispatched",
  "training.started",
  "checkpoint.stored",
  "training.completed",
  "job.succeeded",
  "job.failed",
  "job.cancelled",
  "job.expired",
]);

/** @param {import("../app.js").ViewContext} context */
export async function renderJob({ main, params, signal }) {
  const id = params[0] ?? "";
  const { fragment, refs } = instantiate("view-job");
  refs.id.textContent = id;
  const progress = /** @type {HTMLProgressElement} */ (refs.progress);
  const cancel = /** @type {HTMLButtonElement} */ (refs.cancel);
  const base = `/v1/training-jobs/${encodeURIComponent(id)}`;
  const chart = lossChart(refs.chart, refs["chart-summary"]);

  /** @param {number} done @param {number} total */
  const showSteps = (done, total) => {
    progress.max = Math.max(total, 1);
    progress.value = done;
    refs.steps.textContent = `${done} of ${total} steps`;
  };

  /** @param {Job} job */
  const show = (job) => {
    refs.status.replaceChildren(statusBadge(job.status));
    showSteps(job.steps_completed, job.total_steps);
    chart.setTotalSteps(job.total_steps);
    refs.price.textContent =
      `${formatCents(job.price.quoted_cents)} quoted, ${formatCents(job.price.reserved_cents)} reserved, ` +
      (job.price.charged_cents === null
        ? "not charged yet"
        : `${formatCents(job.price.charged_cents)} charged`);
    refs.verification.textContent = job.verification;
    refs.model.textContent = job.model;
    refs.dataset.textContent = job.dataset;
    const from = job.init_from;
    refs["init-from-term"].hidden = refs["init-from"].hidden = from === null;
    refs["init-from"].replaceChildren(
      ...(from === null
        ? []
        : [
            "the checkpoint at step ",
            String(from.step),
            " of ",
            h("a", { href: `#/jobs/${encodeURIComponent(from.job)}` }, from.job),
          ]),
    );
    refs.created.replaceChildren(time(job.created_at));
    refs.finished.replaceChildren(time(job.finished_at));
    refs.failure.hidden = job.failure_reason === null;
    refs.failure.textContent = job.failure_reason ? `Failure: ${job.failure_reason}` : "";
    cancel.hidden = FINAL_STATUSES.has(job.status);
    refs.results.hidden = job.status !== "succeeded";
    if (job.status === "succeeded") {
      refs.links.replaceChildren(
        h("li", {}, h("a", { href: `${base}/model`, download: true }, "Download the trained model (ONNX)")),
        h(
          "li",
          {},
          h(
            "a",
            { href: `${base}/model?format=safetensors`, download: true },
            "Download the weights (safetensors)",
          ),
          ", keyed by the model's initializer names, for PyTorch",
        ),
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

  const dialog = /** @type {HTMLDialogElement} */ (refs["confirm-cancel"]);
  /** @returns {Promise<boolean>} true when the user confirmed */
  const confirmCancel = () => {
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "cancel"), { once: true });
    });
  };

  cancel.addEventListener("click", async () => {
    if (!(await confirmCancel())) return cancel.focus();
    cancel.disabled = true;
    clearError(refs["job-error"]);
    try {
      show(await call("POST", `${base}/cancel`));
    } catch (error) {
      if (!isAbort(error)) showError(refs["job-error"], error);
    } finally {
      cancel.disabled = false;
    }
  });

  /** @param {import("../event-stream.js").JobEvent} event */
  const onEvent = (event) => {
    if (event.type === "training.progress") {
      showSteps(Number(event.data.step), Number(event.data.total_steps));
      chart.addProgress(Number(event.data.step), Number(event.data.loss));
      refs.speed.textContent = `${Number(event.data.steps_per_second).toFixed(1)} steps/s, learning rate ${Number(event.data.learning_rate).toExponential(2)}`;
      return;
    }
    if (event.type === "training.epoch") chart.addEpoch(/** @type {EpochFigures} */ (event.data));
    if (event.type === "training.completed") {
      for (const epoch of event.data.metrics?.epochs ?? []) chart.addEpoch(epoch);
    }
    const sentence = describeEvent(event);
    if (sentence) {
      refs.timeline.append(h("li", {}, clock(event.created_at), " ", sentence));
      refs.empty.hidden = true;
    }
    if (JOB_CHANGING_EVENTS.has(event.type)) void refresh();
  };

  main.append(fragment);
  const job = await refresh();
  if (!job) {
    for (const section of main.querySelectorAll("section")) section.hidden = true;
    return;
  }
  try {
    await followJobEvents(id, onEvent, signal);
  } catch (error) {
    if (!isAbort(error)) showError(refs["stream-error"], error);
  }
}
