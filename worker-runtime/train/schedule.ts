// Learning rate as a pure function of the optimizer step, so a resumed run and a verifier
// replaying a segment get the same rate without any scheduler state in the checkpoint.
// Each schedule equals torch.optim.lr_scheduler's closed form when stepped once per optimizer
// step (checked against traces recorded from torch in fixtures/schedules.reference.json).
import type { ScheduleConfig } from "./spec.ts";

type AfterWarmup = (schedule: ScheduleConfig, baseLr: number, t: number, length: number) => number;

/** One entry per schedule type; `t` counts steps after warm-up, `length` is the steps left after it. */
const schedules: Record<ScheduleConfig["type"], AfterWarmup> = {
  constant: (_s, baseLr) => baseLr,
  // torch StepLR
  step: (s, baseLr, t) => baseLr * s.gamma ** Math.floor(t / (s.step_size ?? 1)),
  // torch CosineAnnealingLR (closed form), T_max = length
  cosine: (s, baseLr, t, length) =>
    s.min_lr + ((baseLr - s.min_lr) * (1 + Math.cos((Math.PI * Math.min(t, length)) / length))) / 2,
  // torch LinearLR(start_factor=1, end_factor=min_lr/lr, total_iters=length)
  linear: (s, baseLr, t, length) => baseLr + ((s.min_lr - baseLr) * Math.min(t, length)) / length,
};

/**
 * The learning rate of 0-based optimizer step `step` out of `totalSteps`. Warm-up: step t < W
 * uses lr * (t + 1) / W, as torch LinearLR(start_factor=1/W, end_factor=1, total_iters=W-1)
 * chained before the main schedule with SequentialLR(milestones=[W]).
 */
export function learningRateAt(
  schedule: ScheduleConfig,
  baseLr: number,
  step: number,
  totalSteps: number,
): number {
  const warmup = schedule.warmup_steps;
  if (step < warmup) return (baseLr * (step + 1)) / warmup;
  const length = Math.max(1, totalSteps - warmup);
  return schedules[schedule.type](schedule, baseLr, step - warmup, length);
}
