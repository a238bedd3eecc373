// The one shape of a training job in the API, and its hot read. `GET /v1/training-jobs/{id}` is
// what clients poll, so it is one plain `pg` query (Prisma costs several times more per query,
// docs/api.md); the Prisma paths (create, list, cancel) build the same view from their rows.

import type { Static } from "@sinclair/typebox";
import pg from "pg";
import type { JobStatus, VerificationLevel } from "../../prisma/generated/client.ts";
import { isId } from "../ids.ts";
import type { TrainingJob as TrainingJobSchema } from "../schemas/training-jobs.ts";
import { NotFoundError } from "./domain-errors.ts";
import { DISPATCH_TIMES, estimatedStart, PLACE_IN_LINE } from "./job-queue.ts";

/** A job as the API answers it: the SDK's type is its one definition. */
export type JobView = Static<typeof TrainingJobSchema>;

/**
 * The columns a view is made of, named as Prisma's `TrainingJob` names them so its rows fit as
 * they are. From Prisma BIGINT arrives as a bigint and a timestamp as a Date; the pg read has
 * Postgres build the record as one JSON value, where they are a number and an ISO 8601 string.
 */
export interface JobRecord {
  id: string;
  status: JobStatus;
  failureReason: string | null;
  modelFileId: string;
  datasetFileId: string;
  spec: unknown;
  verificationLevel: VerificationLevel;
  totalSteps: number;
  quotedCents: bigint | number;
  reservedCents: bigint | number;
  chargedCents: bigint | number | null;
  resultSha256: string | null;
  /** JSON: an array of EpochMetrics, written only by JobReports.progress. */
  epochMetrics: unknown;
  createdAt: Date | string;
  updatedAt: Date | string;
  finishedAt: Date | string | null;
  expiresAt: Date | string | null;
  /** JSON: an InitFrom, or null for a job that starts from its model's own weights. */
  initFrom: unknown;
  sweepId: string | null;
}

/** Where a waiting job stands: its place in the line and when it should leave it (null: unknown). */
export interface LineView {
  position: number;
  estimatedStartAt: Date | null;
}

function iso(time: Date | string): string {
  return typeof time === "string" ? time : time.toISOString();
}

type EpochView = JobView["metrics"][number];

/** In the schema's field order: Postgres keeps JSONB keys in its own order, the API answers in this one. */
function epochView(m: EpochView): EpochView {
  return {
    epoch: m.epoch,
    last_step: m.last_step,
    train_samples: m.train_samples,
    train_loss: m.train_loss,
    train_accuracy: m.train_accuracy,
    val_loss: m.val_loss,
    val_accuracy: m.val_accuracy,
    steps_per_second: m.steps_per_second,
  };
}

/** In the schema's field order, as epochView. */
function initFromView(from: JobView["init_from"] | null | undefined): JobView["init_from"] {
  return from ? { job: from.job, step: from.step, checkpoint_sha256: from.checkpoint_sha256 } : null;
}

/** `line` is null for a job not waiting, or when the caller did not look it up (lists). */
export function jobView(job: JobRecord, stepsCompleted: number, line: LineView | null = null): JobView {
  return {
    id: job.id,
    object: "training_job",
    status: job.status,
    failure_reason: job.failureReason,
    model: job.modelFileId,
    dataset: job.datasetFileId,
    spec: job.spec,
    verification: job.verificationLevel,
    total_steps: job.totalSteps,
    steps_completed: stepsCompleted,
    price: {
      quoted_cents: Number(job.quotedCents),
      reserved_cents: Number(job.reservedCents),
      charged_cents: job.chargedCents === null ? null : Number(job.chargedCents),
    },
    result: { model_sha256: job.resultSha256 },
    metrics: (job.epochMetrics as JobView["metrics"]).map(epochView),
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
    finished_at: job.finishedAt === null ? null : iso(job.finishedAt),
    expires_at: job.expiresAt === null ? null : iso(job.expiresAt),
    init_from: initFromView(job.initFrom as JobView["init_from"]),
    sweep: job.sweepId,
    queue_position: line?.position ?? null,
    estimated_start_at: line?.estimatedStartAt?.toISOString() ?? null,
  };
}

// One JSON value rather than sixteen columns: the driver then parses one field instead of
// converting each (and describing each on every execution), which is a fair share of this hot
// read's cost. The columns are TIMESTAMP without time zone holding UTC (Prisma's convention), so
// they are formatted as Date.prototype.toISOString formats them. The steps completed are the
// last checkpoint over every attempt's task, as the Prisma path counted them.
const ISO_UTC = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const JOB_BY_ID = `
  SELECT json_build_object(
    'id', j.id, 'status', j.status, 'failureReason', j.failure_reason,
    'modelFileId', j.model_file_id, 'datasetFileId', j.dataset_file_id, 'spec', j.spec,
    'verificationLevel', j.verification_level, 'totalSteps', j.total_steps,
    'quotedCents', j.quoted_cents, 'reservedCents', j.reserved_cents,
    'chargedCents', j.charged_cents, 'resultSha256', j.result_sha256, 'epochMetrics', j.epoch_metrics,
    'createdAt', to_char(j.created_at, ${ISO_UTC}), 'updatedAt', to_char(j.updated_at, ${ISO_UTC}),
    'finishedAt', to_char(j.finished_at, ${ISO_UTC}), 'expiresAt', to_char(j.expires_at, ${ISO_UTC}),
    'initFrom', j.init_from,
    'sweepId', j.sweep_id,
    'stepsCompleted', COALESCE((
      SELECT max(c.step) FROM tasks t JOIN checkpoints c ON c.task_id = t.id WHERE t.job_id = j.id
    ), 0)
  ) AS job
  FROM training_jobs j
  WHERE j.id = $1 AND j.organization_id = $2`;

/** Postgres's duplicate_prepared_statement. */
const DUPLICATE_STATEMENT = "42P05";

export class JobReads {
  /**
   * Planning this query costs more than running it, so it is a named statement, planned once per
   * connection. Embedded Postgres (PGlite) serves all its sockets from one session, where a
   * second connection preparing the same name fails: the reader then goes unnamed for good.
   */
  private named = true;

  constructor(private readonly pool: pg.Pool) {}

  /** The organization's job; unknown, malformed or another organization's answers 404. */
  async get(organizationId: string, id: string): Promise<JobView> {
    const row = isId("job", id) ? await this.byId(id, organizationId) : undefined;
    if (!row) throw new NotFoundError("training job", id, "id");
    return jobView(row, row.stepsCompleted, row.status === "queued" ? await this.line(id) : null);
  }

  /** Only a queued job pays for these two reads; one already dispatched has no place in the line. */
  private async line(id: string): Promise<LineView | null> {
    const place = (await this.pool.query<{ place: string }>(PLACE_IN_LINE, [id])).rows[0];
    if (!place) return null;
    const position = Number(place.place);
    const times = (await this.pool.query<{ at: number }>(DISPATCH_TIMES)).rows.map((row) => row.at);
    return { position, estimatedStartAt: estimatedStart(position, times, new Date()) };
  }

  private async byId(id: string, organizationId: string) {
    type Row = { job: JobRecord & { stepsCompleted: number } };
    const values = [id, organizationId];
    if (this.named) {
      try {
        return (await this.pool.query<Row>({ name: "job_by_id", text: JOB_BY_ID, values })).rows[0]?.job;
      } catch (error) {
        if (!(error instanceof pg.DatabaseError && error.code === DUPLICATE_STATEMENT)) throw error;
        this.named = false;
      }
    }
    return (await this.pool.query<Row>(JOB_BY_ID, values)).rows[0]?.job;
  }
}
