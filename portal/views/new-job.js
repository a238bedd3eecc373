// A new training job: upload a model and a dataset, enter or load a training spec, see the quote
// (price, steps, audits) and only then confirm. The uploads are kept while the page is open, so
// a second quote (another spec, another verification level) does not send the files again.
import { ApiError, get, post, uploadFile } from "../api.js";
import { bindForm, clearError, h, instantiate, showError } from "../dom.js";
import { formatCents, parseDollars } from "../money.js";

/**
 * The spec example the API documents (TrainingSpec in /openapi.json): the README's MLP on the
 * digits dataset. Null when the document cannot be read; the field then starts empty.
 * @param {AbortSignal} signal
 * @returns {Promise<unknown>}
 */
async function documentedExampleSpec(signal) {
  try {
    const document = await get("/openapi.json", signal);
    return document.components?.schemas?.TrainingSpec?.examples?.[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * @typedef {{ total_steps: number, checkpoints: number, train_samples: number, total_flops: number,
 *   price: { compute_cents: number, verification_cents: number, platform_fee_cents: number, total_cents: number },
 *   audit: { segments: number, audited_segments: number, detection_probability: number },
 *   within_price_cap: boolean }} Quote
 */

/**
 * @param {string} field the form field, for the error's param
 * @param {string} message
 */
const invalid = (field, message) =>
  new ApiError(0, { type: "invalid_request_error", code: `${field}_invalid`, message, param: field });

/** @type {Array<[number, string]>} */
const FLOP_UNITS = [
  [1e15, "PFLOP"],
  [1e12, "TFLOP"],
  [1e9, "GFLOP"],
  [1e6, "MFLOP"],
];

/** @param {number} flops */
function flopsText(flops) {
  const unit = FLOP_UNITS.find(([size]) => flops >= size);
  return unit ? `${(flops / unit[0]).toFixed(1)} ${unit[1]}` : `${flops} FLOP`;
}

/** @typedef {{ job: string, step?: number }} InitFrom */

/**
 * The form's "Start from" choice as the request's `init_from`; null for the model's own weights.
 * @param {Record<string, string>} values
 * @returns {InitFrom | null}
 */
function startingPoint(values) {
  const job = values.init_from_job ?? "";
  const step = (values.init_from_step ?? "").trim();
  if (job === "") {
    if (step !== "")
      throw invalid(
        "init_from.step",
        "A checkpoint step needs a job to start from: choose one, or clear the step.",
      );
    return null;
  }
  if (step === "") return { job };
  if (!/^\d+$/.test(step))
    throw invalid(
      "init_from.step",
      "The checkpoint step is a whole number, such as 300; empty for the last.",
    );
  return { job, step: Number(step) };
}

/**
 * The organization's succeeded jobs, newest first, as choices of weights to start from.
 * @param {HTMLSelectElement} select
 * @param {AbortSignal} signal
 */
async function offerFinishedJobs(select, signal) {
  /** @type {{ data: Array<{ id: string, status: string, total_steps: number, finished_at: string | null }> }} */
  const page = await get("/v1/training-jobs?limit=100", signal);
  const day = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  for (const job of page.data.filter((j) => j.status === "succeeded")) {
    const finished = job.finished_at ? `, finished ${day.format(new Date(job.finished_at))}` : "";
    select.append(h("option", { value: job.id }, `${job.id} (${job.total_steps} steps${finished})`));
  }
}

/** @param {import("../app.js").ViewContext} context */
export async function renderNewJob({ main, portal, signal }) {
  const { fragment, refs } = instantiate("view-new-job");
  const form = /** @type {HTMLFormElement} */ (refs.form);
  const specField = /** @type {HTMLTextAreaElement} */ (refs.spec);
  const specFile = /** @type {HTMLInputElement} */ (refs["spec-file"]);
  const confirm = /** @type {HTMLButtonElement} */ (refs.confirm);

  /** Files already uploaded from this page, by the File the user picked: not sent twice. */
  const uploaded = new WeakMap();
  /** @type {{ body: Record<string, unknown>, idempotencyKey: string } | null} */
  let pending = null;

  /**
   * @param {"model" | "dataset"} purpose
   * @returns {Promise<string>} the file's id
   */
  const upload = async (purpose) => {
    const input = /** @type {HTMLInputElement} */ (form.elements.namedItem(purpose));
    const file = input.files?.[0];
    if (!file) throw invalid(purpose, `Choose the ${purpose} file to train on.`);
    const known = uploaded.get(file);
    if (known) return known;
    refs.status.textContent = `Uploading ${file.name}…`;
    const stored = await uploadFile(purpose, file, crypto.randomUUID());
    uploaded.set(file, stored.id);
    refs.status.textContent = `${file.name} uploaded and checked (${stored.id}).`;
    return stored.id;
  };

  const hideQuote = () => {
    refs.quote.hidden = true;
    pending = null;
  };
  form.addEventListener("input", hideQuote);

  specFile.addEventListener("change", async () => {
    const file = specFile.files?.[0];
    if (!file) return;
    specField.value = await file.text();
    hideQuote();
  });

  bindForm(form, refs["form-error"], async (values) => {
    hideQuote();
    /** @type {unknown} */
    let spec;
    try {
      spec = JSON.parse(values.spec ?? "");
    } catch (error) {
      throw invalid(
        "spec",
        `The training spec is not valid JSON: ${error instanceof Error ? error.message : error}`,
      );
    }
    /** @type {Record<string, unknown>} */
    const body = {
      model: await upload("model"),
      dataset: await upload("dataset"),
      spec,
      verification: values.verification,
    };
    // The quote is the same whatever the starting weights: only creating the job derives them.
    const start = startingPoint(values);
    if (values.max_price) {
      const cap = parseDollars(values.max_price);
      if (cap === null || cap < 1)
        throw invalid("max_price", "Enter the most you will pay in dollars, such as 5 or 2.50.");
      body.max_price_cents = cap;
    }
    /** @type {Quote} */
    let quote;
    try {
      quote = await post("/v1/training-jobs/quote", body);
    } catch (error) {
      // The API names the spec's field (spec.optimizer.lr); the form has one field for all of it.
      if (error instanceof ApiError && error.param?.startsWith("spec")) error.param = "spec";
      throw error;
    }
    showQuote(quote, start);
    pending = { body: { ...body, ...(start && { init_from: start }) }, idempotencyKey: crypto.randomUUID() };
  });

  /**
   * @param {Quote} quote
   * @param {InitFrom | null} start
   */
  const showQuote = (quote, start) => {
    const { price, audit } = quote;
    refs["quote-total"].textContent = formatCents(price.total_cents);
    refs["quote-rows"].replaceChildren(
      ...[
        ["Compute", formatCents(price.compute_cents)],
        ["Verification", formatCents(price.verification_cents)],
        ["Platform fee", formatCents(price.platform_fee_cents)],
        ["Steps", `${quote.total_steps} over ${quote.train_samples} training samples`],
        ["Checkpoints", String(quote.checkpoints)],
        [
          "Audits",
          `${audit.audited_segments} of ${audit.segments} segments replayed by verifiers; ` +
            `a worker faking 10% of its work is caught with probability ${(audit.detection_probability * 100).toFixed(2)}%`,
        ],
        ["Work", flopsText(quote.total_flops)],
        ...(start
          ? [
              [
                "Starts from",
                `the weights of ${start.job} at ${start.step === undefined ? "its last checkpoint" : `step ${start.step}`}`,
              ],
            ]
          : []),
      ].map(([name, value]) => h("div", {}, h("dt", {}, name ?? ""), h("dd", {}, value ?? ""))),
    );
    confirm.textContent = `Create the job for ${formatCents(price.total_cents)}`;
    confirm.disabled = !quote.within_price_cap;
    refs["cap-warning"].hidden = quote.within_price_cap;
    refs.quote.hidden = false;
    refs["quote-title"].focus();
  };

  confirm.addEventListener("click", async () => {
    if (!pending) return;
    clearError(refs["create-error"]);
    confirm.disabled = true;
    try {
      const job = await post("/v1/training-jobs", pending.body, {
        "idempotency-key": pending.idempotencyKey,
      });
      portal.navigate(`/jobs/${job.id}`);
    } catch (error) {
      showError(refs["create-error"], error);
      confirm.disabled = false;
    }
  });
  refs.change.addEventListener("click", () => {
    hideQuote();
    specField.focus();
  });

  main.append(fragment);
  const [example] = await Promise.all([
    documentedExampleSpec(signal),
    offerFinishedJobs(/** @type {HTMLSelectElement} */ (refs["init-from-job"]), signal).catch(() => {
      // Without the list the form still trains from the model's own weights.
    }),
  ]);
  // The user may have typed or loaded a spec meanwhile: that one stays.
  if (example !== null && specField.value === "") specField.value = JSON.stringify(example, null, 2);
}
