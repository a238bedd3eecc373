// A training job's events told in plain words, for the job page's timeline: what happened to the
// job, who trained it, how its work was checked. Money is in dollars; the tokens the network is
// paid in behind the scenes, chain task ids and block numbers are left out. training.progress is
// not a line here: the loss chart and the step counter show it.
import { formatCents } from "./money.js";

/** @param {unknown} address a node's SS58 address, shortened for reading: 5Grw…utQY */
function node(address) {
  const text = String(address ?? "");
  return text.length > 12 ? `${text.slice(0, 4)}…${text.slice(-4)}` : text;
}

/** @param {unknown} value */
const cents = (value) => formatCents(Number(value ?? 0));

/** @param {unknown} value a fraction from 0 to 1, or null */
const percent = (value) => (typeof value === "number" ? `${(value * 100).toFixed(1)}%` : null);

/**
 * @param {import("./event-stream.js").JobEvent} event
 * @returns {string | null} one sentence, or null for events the timeline does not list
 */
export function describeEvent({ type, data }) {
  switch (type) {
    case "job.created":
      return `Job created: ${data.total_steps} steps with ${data.verification} verification, ${cents(data.price_cents)} reserved from your balance.`;
    case "job.waiting":
      // The reason is the chain's refusal, in its terms; what it means to the user is this.
      return "Waiting for a free worker: the network is busy. The job keeps its place in line.";
    case "job.dispatched":
      return `A worker (${node(data.worker)}) was assigned and the payment for the work was put in escrow.`;
    case "training.started":
      return `Training started on worker ${node(data.worker)}.`;
    case "training.epoch": {
      const accuracy = percent(data.val_accuracy) ?? percent(data.train_accuracy);
      const validation =
        data.val_loss === null ? "" : `, validation loss ${Number(data.val_loss).toFixed(4)}`;
      return `Epoch ${Number(data.epoch) + 1} done at step ${data.last_step}: training loss ${Number(data.train_loss).toFixed(4)}${validation}${accuracy ? `, accuracy ${accuracy}` : ""}.`;
    }
    case "checkpoint.stored":
      return `Checkpoint saved at step ${data.step}.`;
    case "training.evidence_refused":
      // The reason is the gateway's check, with hashes; that the work was refused is what matters.
      return `The platform refused work that worker ${node(data.worker)} sent: it was not a genuine state of this training run. None of it is kept.`;
    case "training.abandoned":
      return `Worker ${node(data.worker)} gave up after its work was refused; another worker takes the job over once its deadline passes, at no extra cost to you.`;
    case "training.reassigned":
      // The reason names the deadline's block: a chain detail; missing the deadline is what matters.
      return `The previous worker missed its deadline, so the job moved to another worker (${node(data.worker)}), which resumes from the last checkpoint.`;
    case "training.completed": {
      const epochs = Array.isArray(data.metrics?.epochs) ? data.metrics.epochs : [];
      const last = epochs.at(-1);
      const accuracy = last ? (percent(last.val_accuracy) ?? percent(last.train_accuracy)) : null;
      const figures = last
        ? ` after ${epochs.length} ${epochs.length === 1 ? "epoch" : "epochs"}: ` +
          (last.val_loss === null
            ? `training loss ${Number(last.train_loss).toFixed(4)}`
            : `validation loss ${Number(last.val_loss).toFixed(4)}`) +
          (accuracy ? `, accuracy ${accuracy}` : "")
        : "";
      return `Training finished${figures}. The worker committed to its ${data.checkpoints} checkpoints; verification begins.`;
    }
    case "verification.audits_selected": {
      const audits = Array.isArray(data.audits) ? data.audits : [];
      const segments = audits.map((a) => `number ${Number(a.segment) + 1}`).join(", ");
      const retry =
        Number(data.round) > 0 ? " (a new round: the earlier verifiers did not answer in time)" : "";
      return `${audits.length} ${audits.length === 1 ? "segment was" : "segments were"} drawn at random for a verifier to replay${retry}: ${segments} (a segment is the steps between two checkpoints).`;
    }
    case "verification.verdict":
      return data.agrees
        ? `A verifier (${node(data.verifier)}) replayed steps ${data.from_step} to ${data.to_step} and got the same result.`
        : `A verifier (${node(data.verifier)}) replayed steps ${data.from_step} to ${data.to_step} and disagrees: the dispute decides who is right.`;
    case "verification.closed":
      return `Verification closed: ${data.passed} ${data.passed === 1 ? "audit" : "audits"} passed.`;
    case "job.succeeded":
      return `Succeeded. Charged ${cents(data.charged_cents)}; ${cents(data.released_cents)} returned to your balance.`;
    case "job.failed":
      return `Failed: ${data.reason}. Charged ${cents(data.charged_cents)}; ${cents(data.released_cents)} returned to your balance.`;
    case "job.cancelled":
      return `Cancelled${data.reason ? `: ${data.reason}` : ""}. Charged ${cents(data.charged_cents)}; ${cents(data.released_cents)} returned to your balance.`;
    case "job.expired":
      return `No worker took the job in time, so it ended. ${cents(data.released_cents)} returned to your balance.`;
    case "training.progress":
      return null;
    default:
      return type;
  }
}
