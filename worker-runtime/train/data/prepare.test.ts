import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadModel } from "../../onnx/index.ts";
import { TrainError } from "../errors.ts";
import { loadFixture, loadZooFixture } from "../fixtures.ts";
import { parseTrainingSpec } from "../spec.ts";
import { type Dataset, readDataset } from "./dataset.ts";
import { gatherSamples, prepareData } from "./prepare.ts";
import { Xoshiro128 } from "./prng.ts";

const mlp = loadFixture("mlp");
const model = loadModel(mlp.model);
const dataset = readDataset(mlp.dataset.bytes, mlp.dataset.fileName);
const spec = (extra: Record<string, unknown>) =>
  parseTrainingSpec({ ...mlp.spec, validation: undefined, ...extra });

/** `source` with one value of tensor `name` replaced: flat position `at` set to `value`. */
function withValue(source: Dataset, name: string, at: number, value: number): Dataset {
  return {
    ...source,
    tensor: (wanted) => {
      const tensor = source.tensor(wanted);
      if (!tensor || wanted !== name) return tensor;
      if (tensor.data instanceof BigInt64Array) {
        const data = tensor.data.slice();
        data[at] = BigInt(value);
        return { ...tensor, data };
      }
      // Small integer types (uint8 token ids) cannot hold -1: the copy is float64, which an
      // integer input takes when its values are whole.
      const data =
        tensor.data instanceof Float32Array
          ? tensor.data.slice()
          : Float64Array.from(tensor.data as ArrayLike<number>);
      data[at] = value;
      return { ...tensor, dtype: data instanceof Float32Array ? tensor.dtype : "float64", data };
    },
  };
}

const refusal = (pattern: RegExp) => (e: unknown) =>
  e instanceof TrainError && e.code === "DATA_MODEL_MISMATCH" && pattern.test(e.message);

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

  it("refuses a NaN or an infinity in an input or a target, naming the sample and element", () => {
    assert.throws(
      () =>
        prepareData(
          model,
          withValue(dataset, "x_train", 5 * 64 + 3, Number.NaN),
          spec({}),
          Xoshiro128.fromSeed(0),
        ),
      refusal(/x_train: sample 5 \(element 3\) is NaN; the data must be finite/),
    );
    const regression = loadZooFixture("regression_head");
    const floats = readDataset(regression.dataset.bytes, regression.dataset.fileName);
    const target = parseTrainingSpec(regression.spec).target;
    assert.throws(
      () =>
        prepareData(
          loadModel(regression.model),
          withValue(floats, target, 7, Number.POSITIVE_INFINITY),
          parseTrainingSpec(regression.spec),
          Xoshiro128.fromSeed(0),
        ),
      refusal(new RegExp(`${target}: sample 7.* is Infinity; the data must be finite`)),
    );
  });

  it("refuses a token id outside the embedding it looks up, negative ones too, before any step", () => {
    const zoo = loadZooFixture("embeddings");
    const embeddings = loadModel(zoo.model);
    const tokens = readDataset(zoo.dataset.bytes, zoo.dataset.fileName);
    const zooSpec = parseTrainingSpec(zoo.spec);
    const tokenTensor = zooSpec.inputs.tokens!;
    const lookup = embeddings.nodes.find((n) => n.opType === "Gather" && n.inputs[1] === "tokens")!;
    const rows = embeddings.initializers.get(lookup.inputs[0]!)!.dims[0]!;
    const length = tokens.describe(tokenTensor)!.dims[1]!;
    for (const bad of [rows, -1]) {
      assert.throws(
        () =>
          prepareData(
            embeddings,
            withValue(tokens, tokenTensor, 3 * length + 2, bad),
            zooSpec,
            Xoshiro128.fromSeed(0),
          ),
        refusal(
          new RegExp(
            `${tokenTensor}: sample 3 \\(element 2\\) is ${bad}, outside \\[0, ${rows - 1}\\]: node ${lookup.name.replace(/[/]/g, "\\/")} \\(Gather\\)`,
          ),
        ),
      );
    }
    // The largest id that fits is taken.
    prepareData(embeddings, withValue(tokens, tokenTensor, 0, rows - 1), zooSpec, Xoshiro128.fromSeed(0));
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
