import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { learningRateAt } from "./schedule.ts";
import { parseTrainingSpec } from "./spec.ts";

interface Trace {
  schedule: Record<string, unknown>;
  lr: number;
  total_steps: number;
  trace: number[];
}
const traces: Trace[] = JSON.parse(
  readFileSync(new URL("../fixtures/schedules.reference.json", import.meta.url), "utf8"),
);

describe("learningRateAt", () => {
  for (const { schedule, lr, total_steps, trace } of traces) {
    it(`matches torch.optim.lr_scheduler for ${JSON.stringify(schedule)}`, () => {
      const spec = parseTrainingSpec({
        inputs: { x: "x" },
        target: "y",
        output: "y",
        loss: { type: "mse" },
        max_steps: total_steps,
        batch_size: 1,
        optimizer: { type: "sgd", lr },
        schedule,
      });
      trace.forEach((expected, step) => {
        const actual = learningRateAt(spec.schedule, lr, step, total_steps);
        assert.ok(
          Math.abs(actual - expected) <= 1e-12 * Math.max(1, expected),
          `step ${step}: ${actual} vs ${expected}`,
        );
      });
    });
  }
});
