import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { TrainError } from "./errors.ts";
import { parseTrainingSpec, trainingSpecJsonSchema } from "./spec.ts";
import { schemaPath } from "./write-spec-schema.ts";

const minimal = {
  inputs: { input: "x" },
  target: "y",
  output: "logits",
  loss: { type: "cross_entropy" },
  epochs: 2,
  batch_size: 32,
  optimizer: { type: "sgd", lr: 0.1 },
};

function issuesOf(raw: unknown): Array<{ path: string; message: string }> {
  try {
    parseTrainingSpec(raw);
  } catch (error) {
    assert.ok(error instanceof TrainError && error.code === "INVALID_SPEC");
    return error.issues;
  }
  assert.fail("the spec was accepted");
}

describe("parseTrainingSpec", () => {
  it("fills in every default", () => {
    const spec = parseTrainingSpec(minimal);
    assert.deepEqual(spec.loss, { type: "cross_entropy", label_smoothing: 0 });
    assert.deepEqual(spec.optimizer, {
      type: "sgd",
      lr: 0.1,
      momentum: 0,
      dampening: 0,
      nesterov: false,
      weight_decay: 0,
      betas: [0.9, 0.999],
      eps: 1e-8,
    });
    assert.deepEqual(spec.schedule, { type: "constant", warmup_steps: 0, gamma: 0.1, min_lr: 0 });
    assert.equal(spec.seed, 0);
    assert.equal(spec.shuffle, true);
    assert.equal(spec.drop_last, false);
    assert.equal(spec.checkpoint_every, 100);
    assert.deepEqual(spec.frozen, []);
  });

  it("gives adamw torch's default weight decay of 0.01", () => {
    assert.equal(
      parseTrainingSpec({ ...minimal, optimizer: { type: "adamw", lr: 1e-3 } }).optimizer.weight_decay,
      0.01,
    );
  });

  it("reports a wrong enum value with its path and the accepted values", () => {
    const issues = issuesOf({ ...minimal, optimizer: { type: "rmsprop", lr: 0.1 } });
    assert.deepEqual(issues, [
      { path: "/optimizer/type", message: 'got "rmsprop"; accepted: "sgd" | "adam" | "adamw"' },
    ]);
  });

  it("reports every problem at once", () => {
    const issues = issuesOf({ ...minimal, batch_size: 0, optimizer: { type: "sgd", lr: -1 }, colour: "red" });
    const paths = issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ["/batch_size", "/colour", "/optimizer/lr"]);
    assert.match(
      issues.find((i) => i.path === "/colour")!.message,
      /unknown property; accepted: inputs, target/,
    );
  });

  it("checks rules between fields", () => {
    const { epochs: _, ...noLength } = minimal;
    assert.deepEqual(issuesOf(noLength), [{ path: "/", message: "set epochs, max_steps or both" }]);
    assert.equal(issuesOf({ ...minimal, schedule: { type: "step" } })[0]?.path, "/schedule/step_size");
    assert.equal(
      issuesOf({ ...minimal, optimizer: { type: "sgd", lr: 0.1, nesterov: true } })[0]?.path,
      "/optimizer/nesterov",
    );
    assert.equal(
      issuesOf({ ...minimal, optimizer: { type: "adam", lr: 0.1, momentum: 0.9 } })[0]?.path,
      "/optimizer/momentum",
    );
    assert.equal(
      issuesOf({ ...minimal, loss: { type: "mse", label_smoothing: 0.1 } })[0]?.path,
      "/loss/label_smoothing",
    );
  });

  it("accepts either form of validation", () => {
    assert.deepEqual(parseTrainingSpec({ ...minimal, validation: { fraction: 0.2 } }).validation, {
      fraction: 0.2,
    });
    const separate = { inputs: { input: "x_val" }, target: "y_val" };
    assert.deepEqual(parseTrainingSpec({ ...minimal, validation: separate }).validation, separate);
    assert.equal(issuesOf({ ...minimal, validation: { fraction: 1.5 } })[0]?.path, "/validation");
  });
});

describe("training-spec.schema.json", () => {
  it("is in sync with the TypeBox schema (regenerate with write-spec-schema.ts)", () => {
    // Compared as JSON values: the file's layout is biome's business.
    assert.deepEqual(JSON.parse(readFileSync(schemaPath, "utf8")), trainingSpecJsonSchema());
  });
});
