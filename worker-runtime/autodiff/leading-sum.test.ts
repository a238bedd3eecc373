import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import ort from "onnxruntime-node";
import { onnx } from "../onnx/proto.ts";
import { sessionOptions } from "../train/profile.ts";
import { GraphBuilder } from "./graph-builder.ts";
import { sumLeadingAxes } from "./leading-sum.ts";
import { seededRandom } from "./model-builder.ts";
import { valueInfo } from "./step-graph.ts";

const OPSET = 18;

type FloatType = "float32" | "float64";

function graphFor(threads: number, dims: number[], lead: number, dtype: FloatType = "float32") {
  const g = new GraphBuilder(OPSET, threads);
  const y = sumLeadingAxes(g, "x", dims, lead, dtype);
  const graph = g.toGraph(
    "leading_sum",
    [valueInfo({ name: "x", dtype, shape: dims })],
    [valueInfo({ name: y, dtype, shape: dims.slice(lead) })],
  );
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: OPSET }],
    graph,
  }).finish();
  return { bytes, y, ops: graph.node?.map((n) => n.opType) ?? [] };
}

describe("sumLeadingAxes", () => {
  const random = seededRandom(11);
  // [128, 512] is a bias gradient of the compute-bound MLP (a Gemm of ones); [256, 512] is one at
  // batch 256, where two threads miss onnxruntime's ReduceSum fast path; float64 sums are ReduceSums.
  const cases: Array<[number[], number, FloatType]> = [
    [[128, 512], 1, "float32"],
    [[256, 512], 1, "float32"],
    [[128, 512], 1, "float64"],
    [[64, 2, 256], 1, "float32"],
    [[16, 8, 40], 2, "float32"],
    [[40, 10], 1, "float32"],
    [[2048, 8], 1, "float32"],
  ];
  for (const [dims, lead, dtype] of cases) {
    it(`sums ${dtype} ${JSON.stringify(dims)} over ${lead} leading axes to the same bits with 1, 2 and 4 threads`, async () => {
      const n = dims.reduce((a, b) => a * b, 1);
      const values = Array.from({ length: n }, () => random() * 2 - 1);
      const x =
        dtype === "float32"
          ? new ort.Tensor("float32", Float32Array.from(values), dims)
          : new ort.Tensor("float64", Float64Array.from(values), dims);
      const hashes = new Set<string>();
      for (const threads of [1, 2, 4]) {
        const { bytes, y } = graphFor(threads, dims, lead, dtype);
        for (const spinning of threads === 1 ? [false] : [false, true]) {
          const session = await ort.InferenceSession.create(bytes, sessionOptions(threads, { spinning }));
          const out = (await session.run({ x }))[y]!.data as Float32Array | Float64Array;
          hashes.add(
            createHash("sha256")
              .update(new Uint8Array(out.buffer, out.byteOffset, out.byteLength))
              .digest("hex"),
          );
          await session.release();
        }
      }
      assert.equal(hashes.size, 1);
    });
  }

  it("sums a column of negative zeros to +0 in the Gemm of ones, as PyTorch's sum does, at every thread count", async () => {
    const dims = [128, 512];
    const data = Float32Array.from({ length: 128 * 512 }, (_, i) => (i % 512 === 0 ? -0 : random() - 0.5));
    for (const threads of [1, 2]) {
      const { bytes, y } = graphFor(threads, dims, 1);
      const session = await ort.InferenceSession.create(bytes, sessionOptions(threads));
      const out = (await session.run({ x: new ort.Tensor("float32", data, dims) }))[y]!.data as Float32Array;
      assert.ok(Object.is(out[0], 0), `${threads} threads summed the -0 column to ${out[0]}`);
      await session.release();
    }
  });

  it("keeps the sign of a column of negative zeros in a padded ReduceSum with two threads, as one thread does", async () => {
    // onnxruntime's slow path starts each column's sum from +0, its fast path from the first row:
    // they differ only for a column of -0 (a dead ReLU unit's bias gradient), which the padding keeps.
    const dims = [256, 512];
    const data = Float32Array.from({ length: 256 * 512 }, (_, i) => (i % 512 === 0 ? -0 : random() - 0.5));
    for (const threads of [1, 2]) {
      const { bytes, y } = graphFor(threads, dims, 1);
      const session = await ort.InferenceSession.create(bytes, sessionOptions(threads));
      const out = (await session.run({ x: new ort.Tensor("float32", data, dims) }))[y]!.data as Float32Array;
      assert.ok(Object.is(out[0], -0), `${threads} threads summed the -0 column to ${out[0]}`);
      await session.release();
    }
  });

  it("sums up to GEMM_DEPTH float32 rows into a vector with a Gemm of ones at every thread count", () => {
    for (const threads of [1, 2]) {
      assert.deepEqual(graphFor(threads, [128, 512], 1).ops, ["Gemm", "Reshape"]);
      assert.deepEqual(graphFor(threads, [16, 8, 40], 2).ops, ["Reshape", "Gemm", "Reshape"]);
    }
    // Not into a vector, or more rows than one MLAS block: a ReduceSum.
    assert.deepEqual(graphFor(1, [64, 2, 256], 1).ops, ["ReduceSum"]);
    assert.deepEqual(graphFor(1, [256, 512], 1).ops, ["ReduceSum"]);
  });

  it("pads the columns only where the thread count would miss onnxruntime's row-sum fast path", () => {
    assert.deepEqual(graphFor(2, [256, 512], 1).ops, ["Pad", "ReduceSum", "Slice"]);
    assert.deepEqual(graphFor(2, [128, 512], 1, "float64").ops, ["Pad", "ReduceSum", "Slice"]);
    // Wide enough already, or too few rows for the fast path at any width.
    assert.deepEqual(graphFor(2, [256, 1024], 1).ops, ["ReduceSum"]);
    assert.deepEqual(graphFor(2, [32, 512], 1, "float64").ops, ["ReduceSum"]);
    // One thread sums [40, 10] on the slow path: two threads must too.
    assert.deepEqual(graphFor(2, [40, 10], 1, "float64").ops, ["ReduceSum"]);
  });
});
