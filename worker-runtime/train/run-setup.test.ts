// The whole training split as the Loop of steps takes it (run-setup.ts, splitSamples): views of the
// split's own arrays, and no split whose sample indices the Loop's int32 input could not hold.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PreparedSplit } from "./data/prepare.ts";
import { TrainError } from "./errors.ts";
import { splitSamples } from "./run-setup.ts";

function split(samples: number): PreparedSplit {
  return {
    samples,
    inputs: new Map([
      ["x", { name: "x", dtype: "float32", sampleDims: [2], sampleSize: 2, data: new Float32Array(6) }],
    ]),
    target: { name: "y", dtype: "int64", sampleDims: [], sampleSize: 1, data: new BigInt64Array(3) },
  };
}

describe("splitSamples", () => {
  it("views the split's arrays with the sample axis first", () => {
    const prepared = split(3);
    const samples = splitSamples(prepared);
    assert.deepEqual(samples.inputs.get("x")!.dims, [3, 2]);
    assert.equal(samples.inputs.get("x")!.data, prepared.inputs.get("x")!.data);
    assert.deepEqual(samples.target.dims, [3]);
    assert.equal(samples.target.data, prepared.target.data);
  });

  it("refuses a split of more samples than int32 indices reach", () => {
    assert.doesNotThrow(() => splitSamples(split(2 ** 31 - 1)));
    assert.throws(
      () => splitSamples(split(2 ** 31)),
      (e: unknown) =>
        e instanceof TrainError && e.code === "LIMIT_EXCEEDED" && /2147483648 samples/.test(e.message),
    );
  });
});
