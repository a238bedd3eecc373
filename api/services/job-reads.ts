// The one shape of a training job in the API, and its hot read. `GET /v1/training-jobs/{id}` is
// what clients poll, so it is one plain `pg` query (Prisma costs several times more per query,
// docs/api.md); the Prisma paths (create, list, cancel) build the same view from their rows.
import pg from "pg";
import type { JobStatus } from "../../prisma/generated/client.ts";
import type { TrainingJob } from "../../sdk/src/types.ts";
import { ApiError } from "../errors.ts";
import { isId } from "../ids.ts";

/** A job as the API answers it: the SDK's type is its one definition. */
export type JobView = TrainingJob;

/**
 * The columns a view is made of, named as Prisma's `TrainingJob` names them so its rows fit as
 * they are. BIGINT arrives as a bigint from Prisma and as a decimal string from `pg`.
 */
export interface JobRecord {
  id: string;
  status: JobStatus;
  failureReason: string | null;
  modelFileId: string;
  datasetFileId: string;
  spec: unknown;
  verificationLevel: string;
  totalSteps: number;
  quotedCents: bigint | string;
  reservedCents: bigint | string;
  chargedCents: bigint | string | null;
  resultSha256: string | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

export function jobView(job: JobRecord, stepsCompleted: number): JobView {
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
    created_at: job.createdAt.toISOString(),
    updated_at: job.updatedAt.toISOString(),
    finished_at: job.finishedAt?.toISOString() ?? null,
  };
}

// The columns are TIMESTAMP without time zone holding UTC (Prisma's convention); `pg` would read
// them in the process's local zone, so they are turned into absolute instants here. The steps
// completed are the last checkpoint over every attempt's task, as the Prisma path counted them.
const JOB_BY_ID = `
  SELECT j.id, j.status, j.failure_reason AS "failureReason", j.model_file_id AS "modelFileId",
    j.dataset_file_id AS "datasetFileId", j.spec, j.verification_level AS "verificationLevel",
    j.total_steps AS "totalSteps", j.quoted_cents AS "quotedCents",
    j.reserved_cents AS "reservedCents", j.charged_cents AS "chargedCents",
    j.result_sha256 AS "resultSha256", j.created_at AT TIME ZONE 'UTC' AS "createdAt",
    j.updated_at AT TIME ZONE 'UTC' AS "updatedAt", j.finished_at AT TIME ZONE 'UTC' AS "finishedAt",
    COALESCE((
      SELECT max(c.step) FROM tasks t JOIN checkpoints c ON c.task_id = t.id WHERE t.job_id = j.id
    ), 0) AS "stepsCompleted"
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
    if (!row) throw ApiError.notFound("training job", id, "id");
    return jobView(row, row.stepsCompleted);
  }

  private async byId(id: string, organizationId: string) {
    type Row = JobRecord & { stepsCompleted: number };
    const values = [id, organizationId];
    if (this.named) {
      try {
        return (await this.pool.query<Row>({ name: "job_by_id", text: JOB_BY_ID, values })).rows[0];
      } catch (error) {
        if (!(error instanceof pg.DatabaseError && error.code === DUPLICATE_STATEMENT)) throw error;
        this.named = false;
      }
    }
    return (await this.pool.query<Row>(JOB_BY_ID, values)).rows[0];
  }
}
