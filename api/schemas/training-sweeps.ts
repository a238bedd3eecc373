import { Type } from "@sinclair/typebox";
import { VERIFICATION_LEVELS } from "../services/pricing.ts";
import { MAX_SWEEP_VARIANTS, OBJECTIVE_GOALS, OBJECTIVE_METRICS } from "../services/sweep-variants.ts";
import { listOf, StringEnum } from "./common.ts";
import { JobCreateRequest, JobEvent, JobRequest, JobStatus } from "./training-jobs.ts";

const SETTING_KEYS =
  "Keys are `model` (another uploaded model's file id) or a dotted path into the spec (`optimizer.lr`, `epochs`, `schedule.type`)";

const Grid = Type.Record(
  Type.String(),
  Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_SWEEP_VARIANTS }),
  {
    minProperties: 1,
    description: `Every combination of these values is one job (at most ${MAX_SWEEP_VARIANTS}). ${SETTING_KEYS}`,
    examples: [{ "optimizer.lr": [0.01, 0.02], epochs: [2, 3] }],
  },
);

const Settings = Type.Record(Type.String(), Type.Unknown(), {
  description: `What one job changes from the base request. ${SETTING_KEYS}`,
  examples: [{ "optimizer.lr": 0.02 }],
});

const Variants = Type.Array(Settings, {
  minItems: 1,
  maxItems: MAX_SWEEP_VARIANTS,
  description: `One job per entry (at most ${MAX_SWEEP_VARIANTS}); {} runs the base request as it is`,
});

export const Objective = Type.Object(
  {
    metric: StringEnum(OBJECTIVE_METRICS, {
      description:
        "The metric of each job's last epoch that ranks the jobs; default val_loss when the spec has validation data, else train_loss",
    }),
    goal: Type.Optional(
      StringEnum(OBJECTIVE_GOALS, {
        description: "Default: minimize for a loss, maximize for an accuracy",
      }),
    ),
  },
  { additionalProperties: false, title: "SweepObjective" },
);

const sweepFields = {
  grid: Type.Optional(Grid),
  variants: Type.Optional(Variants),
  objective: Type.Optional(Objective),
  max_price_cents: Type.Optional(
    Type.Integer({
      minimum: 1,
      description: "Refuse to create the sweep if all its jobs together cost more",
    }),
  ),
};

export const SweepRequest = Type.Object(
  { ...JobRequest.properties, ...sweepFields },
  {
    additionalProperties: false,
    title: "TrainingSweepRequest",
    description: "A base job request and exactly one of `grid` or `variants`",
  },
);

export const SweepCreateRequest = Type.Object(
  { ...JobCreateRequest.properties, ...sweepFields },
  {
    additionalProperties: false,
    title: "TrainingSweepCreateRequest",
    description: "A base job request and exactly one of `grid` or `variants`",
  },
);

export const SweepQuote = Type.Object(
  {
    object: Type.Literal("sweep_quote"),
    job_count: Type.Integer(),
    total_steps: Type.Integer({ description: "Of all the jobs together" }),
    total_flops: Type.Number(),
    price: Type.Object({
      compute_cents: Type.Integer(),
      verification_cents: Type.Integer(),
      platform_fee_cents: Type.Integer(),
      total_cents: Type.Integer({ description: "What creating the sweep reserves: every job's price" }),
    }),
    variants: Type.Array(
      Type.Object({
        settings: Settings,
        model: Type.String(),
        total_steps: Type.Integer(),
        price_cents: Type.Integer(),
      }),
    ),
    within_price_cap: Type.Boolean(),
  },
  { title: "SweepQuote" },
);

const ObjectiveValue = Type.Union([Type.Number(), Type.Null()], {
  description: "The objective metric of the job's last epoch; null before its first epoch",
});

export const SweepStatus = StringEnum(["running", "completed", "cancelled"] as const, {
  description:
    "running while any job is queued, running or verifying; then completed, or cancelled if the sweep was cancelled",
});

export const TrainingSweep = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal("training_sweep"),
    status: SweepStatus,
    model: Type.String({ description: "The base request's model" }),
    dataset: Type.String(),
    spec: Type.Unknown({ description: "The base TrainingSpec the variants change" }),
    verification: StringEnum(VERIFICATION_LEVELS),
    objective: Type.Object({ metric: StringEnum(OBJECTIVE_METRICS), goal: StringEnum(OBJECTIVE_GOALS) }),
    job_count: Type.Integer(),
    counts: Type.Object(
      {
        queued: Type.Integer(),
        running: Type.Integer(),
        verifying: Type.Integer(),
        succeeded: Type.Integer(),
        failed: Type.Integer(),
        cancelled: Type.Integer(),
      },
      { description: "Jobs by status" },
    ),
    jobs: Type.Array(
      Type.Object({
        id: Type.String({ description: "The job, job_..." }),
        status: JobStatus,
        settings: Settings,
        steps_completed: Type.Integer(),
        total_steps: Type.Integer(),
        objective_value: ObjectiveValue,
      }),
      { description: "One per variant, in the order of the request" },
    ),
    best: Type.Union(
      [
        Type.Object({
          id: Type.String({ description: "The job, job_..." }),
          settings: Settings,
          objective_value: Type.Number(),
        }),
        Type.Null(),
      ],
      { description: "The succeeded job with the best objective value; null until one has succeeded" },
    ),
    price: Type.Object({
      quoted_cents: Type.Integer({ description: "Every job's quoted price together" }),
      reserved_cents: Type.Integer({ description: "Still held for the jobs not yet ended" }),
      charged_cents: Type.Integer({ description: "Charged so far for the jobs that ended" }),
    }),
    created_at: Type.String({ format: "date-time" }),
    cancelled_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  },
  { title: "TrainingSweep" },
);

export const TrainingSweepList = listOf(TrainingSweep, "TrainingSweepList");

export const SweepParams = Type.Object({ id: Type.String({ description: "A sweep id, sweep_..." }) });

export const SweepEvent = Type.Object(
  { ...JobEvent.properties, job: Type.String({ description: "The job the event is about" }) },
  { title: "SweepEvent" },
);

export const SweepEventList = Type.Object(
  { data: Type.Array(SweepEvent), has_more: Type.Boolean() },
  { title: "SweepEventList" },
);

export const SweepEventStream = Type.String({
  description:
    "Server-Sent Events of every job of the sweep: `id: <event id>`, `event: <type>`, `data: <the SweepEvent as JSON>`; " +
    "a `: keep-alive` comment every 15 s; the stream ends once every job has ended",
  examples: [
    'id: 7\nevent: job.succeeded\ndata: {"id":7,"type":"job.succeeded","data":{},"created_at":"2026-12-04T16:00:00.000Z","job":"job_..."}\n\n',
  ],
});
