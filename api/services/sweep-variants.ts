// What a sweep's request asks for, as one job request per variant: a grid is expanded into every
// combination of its values (the first key varying slowest), a list of variants is taken as it is,
// and each variant's settings are applied to a copy of the base request. A setting is the model
// (another uploaded model's file id) or a dotted path into the spec; the quote of each job then
// checks the result as it checks any job.
import { DomainError } from "./domain-errors.ts";

/** The most jobs one sweep may hold: a bound on one transaction's reservations and on a summary's size. */
export const MAX_SWEEP_VARIANTS = 64;

export const OBJECTIVE_METRICS = ["val_loss", "val_accuracy", "train_loss", "train_accuracy"] as const;
export type ObjectiveMetric = (typeof OBJECTIVE_METRICS)[number];
export const OBJECTIVE_GOALS = ["minimize", "maximize"] as const;
export type ObjectiveGoal = (typeof OBJECTIVE_GOALS)[number];

export interface Objective {
  metric: ObjectiveMetric;
  goal: ObjectiveGoal;
}

export type Settings = Record<string, unknown>;

export interface SweepShape {
  model: string;
  spec: unknown;
  grid?: Record<string, unknown[]> | undefined;
  variants?: Settings[] | undefined;
  objective?: { metric: ObjectiveMetric; goal?: ObjectiveGoal | undefined } | undefined;
}

/** One job of the sweep: what it changes, and the model and spec it runs with. */
export interface Variant {
  settings: Settings;
  model: string;
  spec: unknown;
  /** Where the request states this variant, for errors: "grid" or "variants.3". */
  param: string;
}

export class SweepError extends DomainError<"sweep_invalid" | "sweep_too_large" | "sweep_not_cancellable"> {}

const MODEL_SETTING = "model";
/** Segments that would reach an object's prototype rather than a field of the spec. */
const FORBIDDEN_SEGMENTS = new Set(["__proto__", "prototype", "constructor"]);

function checkKey(key: string, param: string): string[] {
  const segments = key.split(".");
  if (segments.some((segment) => segment === "" || FORBIDDEN_SEGMENTS.has(segment))) {
    throw new SweepError(
      "sweep_invalid",
      `'${key}' is not a setting: use 'model' or a dotted path into the spec such as 'optimizer.lr' or 'epochs'`,
      `${param}.${key}`,
    );
  }
  return segments;
}

/** A copy of `spec` with `value` at the dotted `path`; missing objects on the way are created. */
function withSetting(spec: unknown, segments: string[], value: unknown, key: string, param: string): unknown {
  const [head, ...rest] = segments as [string, ...string[]];
  const node = spec === undefined ? {} : spec;
  if (typeof node !== "object" || node === null || Array.isArray(node)) {
    throw new SweepError(
      "sweep_invalid",
      `'${key}' goes through a value of the spec that is not an object`,
      `${param}.${key}`,
    );
  }
  const record = node as Record<string, unknown>;
  const inner = Object.hasOwn(record, head) ? record[head] : undefined;
  return { ...record, [head]: rest.length === 0 ? value : withSetting(inner, rest, value, key, param) };
}

function variantOf(base: SweepShape, settings: Settings, param: string): Variant {
  let model = base.model;
  let spec = base.spec;
  for (const [key, value] of Object.entries(settings)) {
    if (key === MODEL_SETTING) {
      if (typeof value !== "string") {
        throw new SweepError("sweep_invalid", "'model' takes a model's file id, file_...", `${param}.${key}`);
      }
      model = value;
      continue;
    }
    spec = withSetting(spec, checkKey(key, param), value, key, param);
  }
  return { settings, model, spec, param };
}

function combinations(grid: Record<string, unknown[]>): Settings[] {
  let all: Settings[] = [{}];
  for (const [key, values] of Object.entries(grid)) {
    all = all.flatMap((settings) => values.map((value) => ({ ...settings, [key]: value })));
  }
  return all;
}

/** The sweep's jobs, refused with a 400 naming the field when the request is not one sweep of at most 64 jobs. */
export function expandVariants(request: SweepShape): Variant[] {
  const { grid, variants } = request;
  if ((grid === undefined) === (variants === undefined)) {
    throw new SweepError(
      "sweep_invalid",
      "A sweep takes exactly one of 'grid' (values to combine) or 'variants' (a list of settings)",
      grid === undefined ? "grid" : "variants",
    );
  }
  if (grid) {
    const sizes = Object.values(grid).map((values) => values.length);
    const count = sizes.reduce((product, size) => product * size, 1);
    if (count > MAX_SWEEP_VARIANTS) {
      throw new SweepError(
        "sweep_too_large",
        `A sweep has at most ${MAX_SWEEP_VARIANTS} jobs; this grid makes ${sizes.join(" × ")} = ${count}`,
        "grid",
      );
    }
    return combinations(grid).map((settings) => variantOf(request, settings, "grid"));
  }
  return variants!.map((settings, i) => variantOf(request, settings, `variants.${i}`));
}

/** The objective the request names, with its goal defaulted; without one, the validation loss if there is validation data. */
export function objectiveOf(request: SweepShape): Objective {
  const spec = request.spec as { validation?: unknown } | null;
  const metric =
    request.objective?.metric ??
    (spec && typeof spec === "object" && spec.validation ? "val_loss" : "train_loss");
  const goal = request.objective?.goal ?? (metric.endsWith("_loss") ? "minimize" : "maximize");
  return { metric, goal };
}
