import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadModel } from "../../onnx/index.ts";
import { TrainError } from "../errors.ts";
import { loadFixture } from "../fixtures.ts";
import { parseTrainingSpec } from "../spec.ts";
import { readDataset } from "./dataset.ts";
import { gatherSamples, prepareData } from "./prepare.ts";
import { Xoshiro128 } from "./prng.ts";

const mlp = loadFixture("mlp");
const model = loadModel(mlp.model);
const dataset = readDataset(mlp.dataset.bytes, mlp.dataset.fileName);
const spec = (extra: Record<string, unknown>) =>
  parseTrainingSpec({ ...mlp.spec, validation: undefined, ...extra });

describe("prepareData", () => {
  it("holds out a seeded validation fraction, disjoint and in dataset order", () => {
    const prepared = prepareData(
      model,
      dataset,
      spec({ validation: { fraction: 0.25 } }),
      Xoshiro128.fromSeed(7),
    );
    assert.equal(prepared.train.samples, 1080);
    assert.equal(prepared.validation?.samples, 360);
    assert.equal(prepared.classes, 10);
    const again = prepareData(
      model,
      dataset,
      spec({ validation: { fraction: 0.25 } }),
      Xoshiro128.fromSeed(7),
    );
    assert.deepEqual(again.validation?.target.data, prepared.validation?.target.data);
    const other = prepareData(
      model,
      dataset,
      spec({ validation: { fraction: 0.25 } }),
      Xoshiro128.fromSeed(8),
    );
    assert.notDeepEqual(other.validation?.target.data, prepared.validation?.target.data);
  });

  it("converts targets to int64 class indices and gathers samples in the order asked", () => {
    const prepared = prepareData(model, dataset, spec({}), Xoshiro128.fromSeed(0));
    const target = prepared.train.target;
    assert.equal(target.dtype, "int64");
    assert.deepEqual(Array.from(gatherSamples(target, [3, 0, 1]) as BigInt64Array, Number), [3, 0, 1]);
    const input = prepared.train.inputs.get("input")!;
    assert.deepEqual(input.sampleDims, [64]);
    const rows = gatherSamples(input, [2, 2]) as Float32Array;
    assert.deepEqual(rows.subarray(0, 64), rows.subarray(64));
  });

  it("reports targets that are not class indices, by tensor name", () => {
    const csv = readDataset(new TextEncoder().encode(`a,b,label\n1,2,0.5\n3,4,1\n`), "t.csv");
    const twoFeatures = {
      ...model,
      inputs: [{ name: "input", dtype: "float32" as const, shape: ["batch", 2] }],
    };
    assert.throws(
      () =>
        prepareData(
          twoFeatures,
          csv,
          spec({ inputs: { input: "a,b" }, target: "label" }),
          Xoshiro128.fromSeed(0),
        ),
      (e: unknown) =>
        e instanceof TrainError &&
        e.code === "DATA_MODEL_MISMATCH" &&
        /label: holds float64 values that do not convert exactly to int64/.test(e.message),
    );
    assert.throws(
      () => prepareData(model, dataset, spec({ target: "x_train" }), Xoshiro128.fromSeed(0)),
      (e: unknown) =>
        e instanceof TrainError &&
        /x_train: target shape \[1440, 64\] does not fit model output logits of shape \[batch, 10\]/.test(
          e.message,
        ),
    );
  });

  it("refuses a fraction that leaves an empty split", () => {
    assert.throws(
      () => prepareData(model, dataset, spec({ validation: { fraction: 0.0001 } }), Xoshiro128.fromSeed(0)),
      (e: unknown) =>
        e instanceof TrainError && e.code === "INVALID_SPEC" && /leaves an empty split/.test(e.message),
    );
  });

  it("reports an unknown model output with the outputs it has", () => {
    assert.throws(
      () => prepareData(model, dataset, spec({ output: "probs" }), Xoshiro128.fromSeed(0)),
      (e: unknown) => e instanceof TrainError && /no output probs; its outputs: logits/.test(e.message),
    );
  });
});
