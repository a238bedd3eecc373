// Sweeps: many training jobs from one base request, quoted as one price under one cap and created
// in one transaction (every job's reservation, as a single job makes it, or none), then followed
// and cancelled together. The jobs are ordinary jobs: the dispatcher takes them in line like any
// other, and a sweep's status, counts and best job are read from them (sweep-view.ts).
import type { Static } from "@sinclair/typebox";
import type { Database } from "../../prisma/client.ts";
import type { Prisma, TrainingSweep } from "../../prisma/generated/client.ts";
import { isId, newId } from "../ids.ts";
import type { SweepQuote } from "../schemas/training-sweeps.ts";
import { DomainError, NotFoundError } from "./domain-errors.ts";
import { eventView, type JobEvents, type JobEventView } from "./job-events.ts";
import {
  InitFromError,
  type InitFromRecord,
  type InitFromRequest,
  type StartingWeights,
} from "./job-init.ts";
import { TERMINAL } from "./job-settlement.ts";
import { JobError, type Jobs } from "./jobs.ts";
import { InsufficientFundsError } from "./ledger.ts";
import type { VerificationLevel } from "./pricing.ts";
import type { Quote, Quotes } from "./quotes.ts";
import {
  expandVariants,
  objectiveOf,
  type Settings,
  SweepError,
  type SweepShape,
  type Variant,
} from "./sweep-variants.ts";
import { type StoredVariant, type SweepJobRecord, type SweepView, sweepView } from "./sweep-view.ts";

export interface SweepRequest extends SweepShape {
  dataset: string;
  verification: VerificationLevel;
  max_price_cents?: number | undefined;
  expires_after?: number | undefined;
  /** Every job starts from this checkpoint; each variant's model must be the graph it came from. */
  init_from?: InitFromRequest | undefined;
}

/** A sweep's quote as the API answers it: the SDK's type is its one definition. */
export type SweepQuoteView = Static<typeof SweepQuote>;

/** A sweep's event: a job's event, naming the job. */
export interface SweepEventView extends JobEventView {
  job: string;
}

/** A variant's job refused by its quote: the quote's own code, the message and field naming the variant. */
class VariantRefusedError extends DomainError {}

const describeSettings = (settings: Settings) =>
  Object.entries(settings)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(", ") || "the base request";

/** The request's field a refusal of this variant points at: the setting it changed, if that is at fault. */
function paramOf(variant: Variant, param: string | null): string | null {
  if (param === null) return variant.param;
  const keys = Object.keys(variant.settings);
  if (param === "model" && keys.includes("model")) return `${variant.param}.model`;
  const path = param.startsWith("spec.") ? param.slice("spec.".length) : undefined;
  const key = path === undefined ? undefined : keys.find((k) => path === k || path.startsWith(`${k}.`));
  return key === undefined ? param : `${variant.param}.${key}`;
}

const TRANSACTION = { timeout: 60_000, maxWait: 10_000 };

const LIVE: Prisma.TrainingJobWhereInput = { status: { notIn: [...TERMINAL] } };

export interface SweepsDeps {
  db: Database;
  quotes: Quotes;
  jobs: Jobs;
  events: JobEvents;
  startingWeights: StartingWeights;
}

export class Sweeps {
  constructor(private readonly deps: SweepsDeps) {}

  async quote(organizationId: string, request: SweepRequest): Promise<SweepQuoteView> {
    const variants = expandVariants(request);
    const quotes = await this.quoteEach(organizationId, request, variants);
    const sum = (cents: (quote: Quote) => number) => quotes.reduce((total, quote) => total + cents(quote), 0);
    const total = sum((q) => q.price.total_cents);
    return {
      object: "sweep_quote",
      job_count: quotes.length,
      total_steps: sum((q) => q.totalSteps),
      total_flops: sum((q) => q.flopsPerStep * q.totalSteps),
      price: {
        compute_cents: sum((q) => q.price.compute_cents),
        verification_cents: sum((q) => q.price.verification_cents),
        platform_fee_cents: sum((q) => q.price.platform_fee_cents),
        total_cents: total,
      },
      variants: quotes.map((q, i) => ({
        settings: variants[i]!.settings,
        model: q.model.id,
        total_steps: q.totalSteps,
        price_cents: q.price.total_cents,
      })),
      within_price_cap: request.max_price_cents === undefined || total <= request.max_price_cents,
    };
  }

  /**
   * Quotes every variant, refuses a total above `max_price_cents`, and in one transaction records
   * the sweep and reserves and records each job: a balance short of the total creates nothing.
   */
  async create(organizationId: string, request: SweepRequest): Promise<SweepView> {
    const variants = expandVariants(request);
    const objective = objectiveOf(request);
    const quotes = await this.quoteEach(organizationId, request, variants);
    const total = quotes.reduce((sum, quote) => sum + quote.price.total_cents, 0);
    if (request.max_price_cents !== undefined && total > request.max_price_cents) {
      throw new JobError(
        "price_cap_exceeded",
        `The sweep's ${quotes.length} jobs cost ${total} cents together, more than max_price_cents ${request.max_price_cents}`,
        "max_price_cents",
      );
    }
    const starts = await this.startingWeightsOf(organizationId, request, variants, quotes);
    const sweepId = newId("sweep");
    await this.deps.db.$transaction(async (tx) => {
      await tx.trainingSweep.create({
        data: {
          id: sweepId,
          organizationId,
          modelFileId: request.model,
          datasetFileId: request.dataset,
          spec: request.spec as Prisma.InputJsonValue,
          verificationLevel: request.verification,
          variants: [],
          objective: { ...objective },
          quotedCents: BigInt(total),
        },
      });
      const stored: StoredVariant[] = [];
      let reserved = 0;
      for (const [i, quote] of quotes.entries()) {
        const job = await this.deps.jobs
          .insert(
            tx,
            organizationId,
            quote,
            { spec: variants[i]!.spec, expires_after: request.expires_after, initFrom: starts[i] },
            sweepId,
          )
          .catch((error: unknown) => {
            // The ledger names the one job it could not reserve; the user needs the sweep's total.
            if (!(error instanceof InsufficientFundsError)) throw error;
            throw new InsufficientFundsError(BigInt(total), error.availableCents + BigInt(reserved));
          });
        reserved += quote.price.total_cents;
        stored.push({ job: job.id, settings: variants[i]!.settings });
      }
      await tx.trainingSweep.update({
        where: { id: sweepId },
        data: { variants: stored as unknown as Prisma.InputJsonValue },
      });
    }, TRANSACTION);
    return this.get(organizationId, sweepId);
  }

  async get(organizationId: string, id: string): Promise<SweepView> {
    const sweep = await this.row(organizationId, id);
    return sweepView(sweep, await this.jobsOf([sweep.id]));
  }

  async list(organizationId: string, limit: number, after?: string) {
    const rows = await this.deps.db.trainingSweep.findMany({
      where: { organizationId, ...(after ? { id: { lt: after } } : {}) },
      orderBy: { id: "desc" },
      take: limit + 1,
    });
    const page = rows.slice(0, limit);
    const jobs = await this.jobsOf(page.map((row) => row.id));
    return { data: page.map((row) => sweepView(row, jobs)), has_more: rows.length > limit };
  }

  /**
   * Cancels every job not yet verifying (their reservations are released); jobs being verified
   * finish. Refused when no job is left to cancel.
   */
  async cancel(organizationId: string, id: string): Promise<SweepView> {
    const sweep = await this.row(organizationId, id);
    const cancellable = await this.deps.db.trainingJob.findMany({
      where: { sweepId: sweep.id, status: { in: ["queued", "running"] } },
      select: { id: true },
    });
    if (cancellable.length === 0) {
      const view = await this.get(organizationId, id);
      throw new SweepError(
        "sweep_not_cancellable",
        `Sweep '${id}' has no queued or running job (${view.counts.verifying} verifying, ` +
          `${view.job_count - view.counts.verifying} ended); there is nothing to cancel`,
      );
    }
    await this.deps.db.trainingSweep.updateMany({
      where: { id: sweep.id, cancelledAt: null },
      data: { cancelledAt: new Date() },
    });
    for (const { id: jobId } of cancellable) {
      await this.deps.jobs.cancel(organizationId, jobId).catch((error: unknown) => {
        // It started verifying, or ended, since it was read: it is no longer the sweep's to stop.
        if (!(error instanceof JobError && error.code === "job_not_cancellable")) throw error;
      });
    }
    return this.get(organizationId, id);
  }

  /** Every job's events after `afterId`, in id order. */
  async events(sweepId: string, afterId: number, limit: number): Promise<SweepEventView[]> {
    const rows = await this.deps.db.jobEvent.findMany({
      where: { job: { sweepId }, id: { gt: BigInt(afterId) } },
      orderBy: { id: "asc" },
      take: limit,
    });
    return rows.map((row) => ({ ...eventView(row), job: row.jobId }));
  }

  /** Live events of every job of the sweep; the returned function unsubscribes. */
  async subscribe(sweepId: string, listener: (event: SweepEventView) => void): Promise<() => Promise<void>> {
    const jobs = await this.deps.db.trainingJob.findMany({ where: { sweepId }, select: { id: true } });
    const unsubscribes = await Promise.all(
      jobs.map(({ id }) => this.deps.events.subscribe(id, (event) => listener({ ...event, job: id }))),
    );
    return async () => {
      await Promise.all(unsubscribes.map((unsubscribe) => unsubscribe()));
    };
  }

  /** Whether every job of the sweep has ended. */
  async ended(sweepId: string): Promise<boolean> {
    return (await this.deps.db.trainingJob.count({ where: { sweepId, ...LIVE } })) === 0;
  }

  /** The sweep's row if it belongs to the organization; anything else is 404. */
  async row(organizationId: string, id: string): Promise<TrainingSweep> {
    const sweep = isId("sweep", id)
      ? await this.deps.db.trainingSweep.findFirst({ where: { id, organizationId } })
      : null;
    if (!sweep) throw new NotFoundError("training sweep", id, "id");
    return sweep;
  }

  /**
   * Each job's starting weights under `init_from`: derived once per distinct model (variants may
   * name other models), refused with the variant that named a model of another graph.
   */
  private async startingWeightsOf(
    organizationId: string,
    request: SweepRequest,
    variants: Variant[],
    quotes: Quote[],
  ): Promise<(InitFromRecord | undefined)[]> {
    const from = request.init_from;
    if (!from) return quotes.map(() => undefined);
    const derived = new Map<string, InitFromRecord>();
    const starts: InitFromRecord[] = [];
    for (const [i, quote] of quotes.entries()) {
      let start = derived.get(quote.model.id);
      if (!start) {
        start = await this.deps.startingWeights
          .derive(organizationId, quote.model, from)
          .catch((error: unknown) => {
            if (!(error instanceof InitFromError) || error.param !== "model") throw error;
            const variant = variants[i]!;
            throw new InitFromError(
              error.code,
              `Job ${i + 1} of ${variants.length} (${describeSettings(variant.settings)}): ${error.message}`,
              paramOf(variant, "model"),
            );
          });
        derived.set(quote.model.id, start);
      }
      starts.push(start);
    }
    return starts;
  }

  private async quoteEach(organizationId: string, request: SweepRequest, variants: Variant[]) {
    const quotes: Quote[] = [];
    // One after another: the pricing worker takes one model at a time, and the first refusal is the one reported.
    for (const [i, variant] of variants.entries()) {
      const quote = await this.deps.quotes
        .quote(organizationId, {
          model: variant.model,
          dataset: request.dataset,
          spec: variant.spec,
          verification: request.verification,
        })
        .catch((error: unknown) => {
          if (!(error instanceof DomainError)) throw error;
          throw new VariantRefusedError(
            error.code,
            `Job ${i + 1} of ${variants.length} (${describeSettings(variant.settings)}): ${error.message}`,
            paramOf(variant, error.param),
          );
        });
      quotes.push(quote);
    }
    return quotes;
  }

  /** The summary's columns of the sweeps' jobs, with each job's last checkpoint step. */
  private async jobsOf(sweepIds: string[]): Promise<SweepJobRecord[]> {
    if (sweepIds.length === 0) return [];
    const jobs = await this.deps.db.trainingJob.findMany({
      where: { sweepId: { in: sweepIds } },
      select: {
        id: true,
        status: true,
        epochMetrics: true,
        resultMetrics: true,
        totalSteps: true,
        quotedCents: true,
        reservedCents: true,
        chargedCents: true,
      },
    });
    const steps = await this.deps.db.$queryRaw<Array<{ job_id: string; step: number }>>`
      SELECT t.job_id, max(c.step)::int AS step FROM tasks t JOIN checkpoints c ON c.task_id = t.id
      WHERE t.job_id = ANY(${jobs.map((job) => job.id)}) GROUP BY t.job_id`;
    const stepOf = new Map(steps.map((row) => [row.job_id, row.step]));
    return jobs.map((job) => ({ ...job, stepsCompleted: stepOf.get(job.id) ?? 0 }));
  }
}
