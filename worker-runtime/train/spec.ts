// The training spec: the one description of a training job, shared by `veritrain train`, the API
// and the node daemon. JSON, snake_case; defaults are applied on validation, so every consumer
// sees the same fully-specified object. The published JSON Schema is generated from this file.
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { type ValueError, ValueErrorType } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";
import { TrainError, type TrainIssue } from "./errors.ts";

/** A field the user may leave out; parseTrainingSpec fills in its `default`. */
const Defaulted = <T extends TSchema>(schema: T) => Type.Optional(schema);
const PositiveInt = (description: string) => Type.Integer({ minimum: 1, description });
const NameMap = (description: string) =>
  Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }), {
    description,
    minProperties: 1,
  });

export const LossSpec = Type.Object(
  {
    type: Type.Union([Type.Literal("cross_entropy"), Type.Literal("mse"), Type.Literal("bce_with_logits")], {
      description:
        "cross_entropy: logits [N, C] (or [N, C, ...]) against int64 class indices, mean over samples " +
        "(torch.nn.functional.cross_entropy). mse: mean squared error. bce_with_logits: mean binary " +
        "cross-entropy on logits (torch.nn.functional.binary_cross_entropy_with_logits).",
    }),
    label_smoothing: Defaulted(
      Type.Number({
        minimum: 0,
        maximum: 1,
        default: 0,
        description: "cross_entropy only: torch's label_smoothing. Default 0.",
      }),
    ),
  },
  { additionalProperties: false },
);

export const OptimizerSpec = Type.Object(
  {
    type: Type.Union([Type.Literal("sgd"), Type.Literal("adam"), Type.Literal("adamw")], {
      description: "Update rule, exactly as torch.optim.SGD / Adam / AdamW.",
    }),
    lr: Type.Number({ exclusiveMinimum: 0, description: "Base learning rate (the schedule scales it)." }),
    momentum: Defaulted(Type.Number({ minimum: 0, default: 0, description: "sgd only. Default 0." })),
    dampening: Defaulted(Type.Number({ minimum: 0, default: 0, description: "sgd only. Default 0." })),
    nesterov: Defaulted(
      Type.Boolean({
        default: false,
        description: "sgd only; needs momentum > 0 and dampening 0. Default false.",
      }),
    ),
    weight_decay: Type.Optional(
      Type.Number({
        minimum: 0,
        description:
          "L2 penalty added to the gradient (sgd, adam) or decoupled decay (adamw). Default 0 (adamw: 0.01).",
      }),
    ),
    betas: Defaulted(
      Type.Tuple(
        [Type.Number({ minimum: 0, exclusiveMaximum: 1 }), Type.Number({ minimum: 0, exclusiveMaximum: 1 })],
        { default: [0.9, 0.999], description: "adam/adamw only. Default [0.9, 0.999]." },
      ),
    ),
    eps: Defaulted(
      Type.Number({ exclusiveMinimum: 0, default: 1e-8, description: "adam/adamw only. Default 1e-8." }),
    ),
  },
  { additionalProperties: false },
);

export const ScheduleSpec = Type.Object(
  {
    type: Defaulted(
      Type.Union(
        [Type.Literal("constant"), Type.Literal("step"), Type.Literal("cosine"), Type.Literal("linear")],
        {
          default: "constant",
          description:
            "Per optimizer step, after warm-up: constant; step (torch StepLR: lr * gamma^floor(t / step_size)); " +
            "cosine (torch CosineAnnealingLR, closed form, T_max = remaining steps, eta_min = min_lr); " +
            "linear (decay from lr to min_lr over the remaining steps). Default constant.",
        },
      ),
    ),
    warmup_steps: Defaulted(
      Type.Integer({
        minimum: 0,
        default: 0,
        description:
          "Linear warm-up: step t < W uses lr * (t + 1) / W (torch LinearLR(start_factor=1/W, total_iters=W-1)); " +
          "the schedule then starts at t = W with its own clock at 0. Default 0.",
      }),
    ),
    step_size: Type.Optional(
      Type.Integer({ minimum: 1, description: "step only: steps between decays. Required for step." }),
    ),
    gamma: Defaulted(
      Type.Number({
        exclusiveMinimum: 0,
        default: 0.1,
        description: "step only: decay factor. Default 0.1.",
      }),
    ),
    min_lr: Defaulted(
      Type.Number({ minimum: 0, default: 0, description: "cosine and linear: final lr. Default 0." }),
    ),
  },
  { additionalProperties: false },
);

export const ValidationSpec = Type.Union(
  [
    Type.Object(
      {
        fraction: Type.Number({
          exclusiveMinimum: 0,
          exclusiveMaximum: 1,
          description: "Hold out this fraction of the samples (chosen with the seed, before training).",
        }),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        inputs: NameMap("Model input name -> dataset tensor holding the validation samples."),
        target: Type.String({ minLength: 1, description: "Dataset tensor holding the validation targets." }),
      },
      { additionalProperties: false },
    ),
  ],
  { description: "Either a held-out fraction of the training tensors, or separate dataset tensors." },
);

export const TrainingSpecSchema = Type.Object(
  {
    inputs: NameMap("Model input name -> dataset tensor name (axis 0 indexes samples)."),
    target: Type.String({
      minLength: 1,
      description: "Dataset tensor holding the targets (axis 0 indexes samples).",
    }),
    output: Type.String({ minLength: 1, description: "Model output the loss is computed on." }),
    loss: LossSpec,
    epochs: Type.Optional(
      PositiveInt("Passes over the training data. At least one of epochs and max_steps."),
    ),
    max_steps: Type.Optional(
      PositiveInt("Optimizer steps; with epochs, training stops at whichever comes first."),
    ),
    batch_size: PositiveInt("Samples per optimizer step."),
    optimizer: OptimizerSpec,
    schedule: Defaulted(ScheduleSpec),
    clip_grad_norm: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description: "Clip the global gradient L2 norm (torch clip_grad_norm_).",
      }),
    ),
    seed: Defaulted(
      Type.Integer({ minimum: 0, maximum: 0xffffffff, default: 0, description: "PRNG seed. Default 0." }),
    ),
    shuffle: Defaulted(
      Type.Boolean({ default: true, description: "Reshuffle the samples every epoch. Default true." }),
    ),
    drop_last: Defaulted(
      Type.Boolean({
        default: false,
        description: "Drop the last partial batch of each epoch. Default false.",
      }),
    ),
    validation: Type.Optional(ValidationSpec),
    checkpoint_every: Defaulted(
      Type.Integer({
        minimum: 1,
        default: 100,
        description: "Checkpoint every k optimizer steps (plus step 0 and the final step). Default 100.",
      }),
    ),
    frozen: Defaulted(
      Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        uniqueItems: true,
        description: "Initializer names that are not trained. Default [].",
      }),
    ),
  },
  {
    $id: "https://veritrain.dev/schemas/training-spec.schema.json",
    title: "Veritrain training spec",
    additionalProperties: false,
  },
);

type WithDefaults<T, K extends keyof T> = Omit<T, K> & Required<Pick<T, K>>;
export type LossConfig = WithDefaults<Static<typeof LossSpec>, "label_smoothing">;
/** weight_decay holds torch's default for the optimizer type when the user left it out. */
export type OptimizerConfig = WithDefaults<
  Static<typeof OptimizerSpec>,
  "momentum" | "dampening" | "nesterov" | "weight_decay" | "betas" | "eps"
>;
export type ScheduleConfig = WithDefaults<
  Static<typeof ScheduleSpec>,
  "type" | "warmup_steps" | "gamma" | "min_lr"
>;
/** A spec as parseTrainingSpec returns it: every default filled in. */
export type TrainingSpec = Omit<
  WithDefaults<
    Static<typeof TrainingSpecSchema>,
    "schedule" | "seed" | "shuffle" | "drop_last" | "checkpoint_every" | "frozen"
  >,
  "loss" | "optimizer" | "schedule"
> & { loss: LossConfig; optimizer: OptimizerConfig; schedule: ScheduleConfig };

/** The schema as plain JSON (TypeBox's symbol keys dropped), as published in training-spec.schema.json. */
export function trainingSpecJsonSchema(): unknown {
  return JSON.parse(
    JSON.stringify({ $schema: "https://json-schema.org/draft/2020-12/schema", ...TrainingSpecSchema }),
  );
}

// TypeBox fills defaults only inside objects that exist, so a missing schedule becomes {} first.
const withSchedule = (raw: unknown): unknown =>
  raw !== null && typeof raw === "object" && !Array.isArray(raw) && !("schedule" in raw)
    ? { ...raw, schedule: {} }
    : raw;

function acceptedValues(schema: TSchema): string | undefined {
  const anyOf: unknown = schema.anyOf;
  if (!Array.isArray(anyOf)) return undefined;
  const literals = anyOf.map((s: { const?: unknown }) => s.const).filter((c) => c !== undefined);
  return literals.length === anyOf.length ? literals.map((c) => JSON.stringify(c)).join(" | ") : undefined;
}

function describe(error: ValueError): string {
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    const properties: unknown = error.schema.properties;
    const known = properties && typeof properties === "object" ? Object.keys(properties).join(", ") : "";
    return `unknown property; accepted: ${known}`;
  }
  const accepted = acceptedValues(error.schema);
  return accepted ? `got ${JSON.stringify(error.value)}; accepted: ${accepted}` : error.message;
}

function schemaIssues(value: unknown): TrainIssue[] {
  const issues: TrainIssue[] = [];
  for (const error of Value.Errors(TrainingSpecSchema, value)) {
    const message = describe(error);
    issues.push({ path: error.path || "/", message });
  }
  // A union reports once per branch and once for itself; one line per place is easier to read.
  return issues.filter((issue, i) => issues.findIndex((o) => o.path === issue.path) === i);
}

function crossFieldIssues(spec: TrainingSpec): TrainIssue[] {
  const issues: TrainIssue[] = [];
  const { optimizer: opt, loss, schedule } = spec;
  if (spec.epochs === undefined && spec.max_steps === undefined) {
    issues.push({ path: "/", message: "set epochs, max_steps or both" });
  }
  if (loss.type !== "cross_entropy" && loss.label_smoothing !== 0) {
    issues.push({
      path: "/loss/label_smoothing",
      message: `only cross_entropy accepts it (loss is ${loss.type})`,
    });
  }
  if (opt.type === "sgd" && opt.nesterov && (opt.momentum <= 0 || opt.dampening !== 0)) {
    issues.push({
      path: "/optimizer/nesterov",
      message: "needs momentum > 0 and dampening 0 (as torch.optim.SGD)",
    });
  }
  if (opt.type !== "sgd") {
    for (const key of ["momentum", "dampening"] as const) {
      if (opt[key] !== 0)
        issues.push({ path: `/optimizer/${key}`, message: `sgd only (optimizer is ${opt.type})` });
    }
    if (opt.nesterov)
      issues.push({ path: "/optimizer/nesterov", message: `sgd only (optimizer is ${opt.type})` });
  }
  if (schedule.type === "step" && schedule.step_size === undefined) {
    issues.push({ path: "/schedule/step_size", message: "required when schedule.type is step" });
  }
  if (schedule.min_lr > opt.lr) {
    issues.push({ path: "/schedule/min_lr", message: `must not exceed optimizer.lr (${opt.lr})` });
  }
  return issues;
}

/**
 * Checks a parsed JSON value against the schema and the rules between fields, and returns it
 * with every default filled in. Throws TrainError INVALID_SPEC listing every problem with its path.
 */
export function parseTrainingSpec(raw: unknown): TrainingSpec {
  const value = Value.Default(TrainingSpecSchema, Value.Clone(withSchedule(raw)));
  const issues = schemaIssues(value);
  if (issues.length > 0) throw new TrainError("INVALID_SPEC", "the training spec is invalid:", issues);
  const parsed = value as TrainingSpec;
  // torch's own defaults: AdamW decays by 0.01, the others not at all. Not expressible as a
  // schema default because it depends on the optimizer type.
  const weightDecay = (value as Static<typeof TrainingSpecSchema>).optimizer.weight_decay;
  const spec: TrainingSpec = {
    ...parsed,
    optimizer: {
      ...parsed.optimizer,
      weight_decay: weightDecay ?? (parsed.optimizer.type === "adamw" ? 0.01 : 0),
    },
  };
  const crossIssues = crossFieldIssues(spec);
  if (crossIssues.length > 0)
    throw new TrainError("INVALID_SPEC", "the training spec is invalid:", crossIssues);
  return spec;
}
