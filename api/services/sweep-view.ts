// The one shape of a sweep in the API, derived from its row and its jobs' rows: status and counts
// from the jobs' statuses, each job's objective value from its last epoch's metrics, the best
// among the succeeded jobs, and the money (quoted, still reserved, charged so far).
import type { Static } from "@sinclair/typebox";
import type { JobStatus, TrainingSweep as SweepRow } from "../../prisma/generated/client.ts";
import type { TrainingSweep as TrainingSweepSchema } from "../schemas/training-sweeps.ts";
import { TERMINAL } from "./job-settlement.ts";
import type { Objective, Settings } from "./sweep-variants.ts";

/** A sweep as the API answers it: the SDK's type is its one definition. */
export type SweepView = Static<typeof TrainingSweepSchema>;

/** What the sweep row keeps of each variant, in request order. */
export interface StoredVariant {
  job: string;
  settings: Settings;
}

/** The columns of a job the summary reads, named as Prisma names them, with its steps completed. */
export interface SweepJobRecord {
  id: string;
  status: JobStatus;
  epochMetrics: unknown;
  /** The worker's final metrics, as it reported them with the model: `epochs` holds every epoch's. */
  resultMetrics: unknown;
  totalSteps: number;
  quotedCents: bigint;
  reservedCents: bigint;
  chargedCents: bigint | null;
  stepsCompleted: number;
}

const STATUSES: readonly JobStatus[] = ["queued", "running", "verifying", "succeeded", "failed", "cancelled"];

/**
 * The last epoch's metric: from the epochs reported while the job trained, or else from the final
 * metrics the worker delivered with the model (a worker need not report epochs as it goes).
 */
function objectiveValue(job: SweepJobRecord, objective: Objective): number | null {
  type Epochs = Array<Record<string, unknown>>;
  const final = (job.resultMetrics as { epochs?: Epochs } | null)?.epochs;
  const reported = job.epochMetrics as Epochs;
  const last = (reported.length > 0 ? reported : Array.isArray(final) ? final : []).at(-1);
  const value = last?.[objective.metric];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

export function sweepView(sweep: SweepRow, jobs: readonly SweepJobRecord[]): SweepView {
  const objective = sweep.objective as unknown as Objective;
  const byId = new Map(jobs.map((job) => [job.id, job]));
  const counts = Object.fromEntries(STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
  const rows = (sweep.variants as unknown as StoredVariant[]).map(({ job: id, settings }) => {
    const job = byId.get(id);
    if (!job) throw new Error(`sweep ${sweep.id} names job ${id}, which is not in it`);
    counts[job.status]++;
    return { job, settings, value: objectiveValue(job, objective) };
  });
  const better = (a: number, b: number) => (objective.goal === "minimize" ? a < b : a > b);
  let best: SweepView["best"] = null;
  for (const { job, settings, value } of rows) {
    if (job.status !== "succeeded" || value === null) continue;
    if (best === null || better(value, best.objective_value)) {
      best = { id: job.id, settings, objective_value: value };
    }
  }
  const live = rows.filter(({ job }) => !TERMINAL.has(job.status));
  const sum = (values: bigint[]) => Number(values.reduce((total, value) => total + value, 0n));
  return {
    id: sweep.id,
    object: "training_sweep",
    status: live.length > 0 ? "running" : sweep.cancelledAt ? "cancelled" : "completed",
    model: sweep.modelFileId,
    dataset: sweep.datasetFileId,
    spec: sweep.spec,
    verification: sweep.verificationLevel,
    objective,
    job_count: rows.length,
    counts,
    jobs: rows.map(({ job, settings, value }) => ({
      id: job.id,
      status: job.status,
      settings,
      steps_completed: job.status === "succeeded" ? job.totalSteps : job.stepsCompleted,
      total_steps: job.totalSteps,
      objective_value: value,
    })),
    best,
    price: {
      quoted_cents: sum(rows.map(({ job }) => job.quotedCents)),
      reserved_cents: sum(live.map(({ job }) => job.reservedCents)),
      charged_cents: sum(rows.map(({ job }) => job.chargedCents ?? 0n)),
    },
    created_at: sweep.createdAt.toISOString(),
    cancelled_at: sweep.cancelledAt?.toISOString() ?? null,
  };
}
