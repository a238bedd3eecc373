// A large parameter is fed and updated as one row (training-step.ts, isRowParameter; the update as
// one Gemm in optimizers.ts, applyStep): the steps must give the bits of the packed graph, whose
// update is Mul then Add over the one parameter vector, with any thread count.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import ort from "onnxruntime-node";
import { type Tensor, tensorFromNumbers } from "../onnx/dtypes.ts";
import { onnx } from "../onnx/proto.ts";
import { sessionOptions } from "../train/profile.ts";
import { toOrt } from "./gradient-check.ts";
import { linearTrainingStep } from "./linear-step.ts";
import { seededRandom } from "./model-builder.ts";
import type { OptimizerOptions } from "./optimizers.ts";
import { isRowParameter } from "./training-step.ts";

// Inner dimensions up to 128: MLAS then sums each output in one block whatever the thread count.
const [batch, inputs, outputs] = [8, 120, 600];
const random = seededRandom(3);
const values = (n: number) => Array.from({ length: n }, () => Math.fround(random() * 2 - 1));
const x = values(batch * inputs);
const target = values(batch * outputs);
const weight = tensorFromNumbers("float32", [outputs, inputs], values(outputs * inputs));
const bias = tensorFromNumbers("float32", [outputs], values(outputs));

/** The weight after three steps, and the dims the step graph feeds it in. */
async function threeSteps(options: OptimizerOptions, packed: boolean, threads: number) {
  const step = linearTrainingStep(weight, bias, batch, options, { packParameters: packed, threads });
  const session = await ort.InferenceSession.create(step.bytes, sessionOptions(threads));
  const feeds: Record<string, ort.Tensor> = {
    x: toOrt(tensorFromNumbers("float32", [batch, inputs], x)),
    [step.inputs.target]: toOrt(tensorFromNumbers("float32", [batch, outputs], target)),
    [step.inputs.learningRate]: new ort.Tensor("float32", Float32Array.of(0.05), []),
  };
  for (const p of step.params) feeds[p] = toOrt(step.initialParams.get(p)!);
  for (const s of step.state) feeds[s.name] = toOrt(s.init);
  for (let t = 1; t <= 3; t++) {
    feeds[step.inputs.step] = new ort.Tensor("int64", BigInt64Array.of(BigInt(t)), []);
    const result = await session.run(feeds);
    for (const p of step.params) feeds[p] = result[step.outputs.params.get(p)!]!;
    for (const s of step.state) feeds[s.name] = result[step.outputs.state.get(s.name)!]!;
  }
  await session.release();
  const name = step.packing ? step.packing.name : "weight";
  const all = feeds[name]!.data as Float32Array;
  const slot = step.packing?.slots.find((s) => s.name === "weight");
  const offset = slot?.offset ?? 0;
  return {
    weight: new Uint32Array(all.buffer, all.byteOffset + 4 * offset, outputs * inputs),
    fedDims: step.initialParams.get(name)!.dims,
    rows: step.rows,
    ops: (onnx.ModelProto.decode(step.bytes).graph?.node ?? []).map((n) => n.opType),
  };
}

describe("a parameter fed as one row", () => {
  it("is a large float32 tensor", () => {
    assert.ok(isRowParameter(weight));
    assert.ok(!isRowParameter(bias));
    const wide: Tensor = { ...weight, dtype: "float64", data: new Float64Array(weight.data.length) };
    assert.ok(!isRowParameter(wide));
  });

  const cases: OptimizerOptions[] = [
    { type: "sgd" },
    { type: "sgd", momentum: 0.9 },
    { type: "sgd", momentum: 0.8, nesterov: true, weightDecay: 0.05 },
    { type: "adamw", weightDecay: 0.1 },
  ];
  for (const options of cases) {
    it(`steps to the bits of Mul then Add with 1, 2 and 4 threads: ${JSON.stringify(options)}`, async () => {
      const reference = await threeSteps(options, true, 1);
      for (const threads of [1, 2, 4]) {
        const row = await threeSteps(options, false, threads);
        assert.deepEqual(row.fedDims, [1, outputs * inputs]);
        assert.deepEqual(row.rows?.get("weight"), [outputs, inputs]);
        assert.ok(row.ops.includes("Gemm"));
        assert.deepEqual(row.weight, reference.weight);
      }
    });
  }
});
