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

function graphFor(threads: number, dims: number[], lead: number) {
  const g = new GraphBuilder(OPSET, threads);
  const y = sumLeadingAxes(g, "x", dims, lead);
  const graph = g.toGraph(
    "leading_sum",
    [valueInfo({ name: "x", dtype: "float32", shape: dims })],
    [valueInfo({ name: y, dtype: "float32", shape: dims.slice(lead) })],
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
  // [128, 512] is a bias gradient of the compute-bound MLP, where two threads miss onnxruntime's fast path.
  const cases: Array<[number[], number]> = [
    [[128, 512], 1],
    [[64, 2, 256], 1],
    [[16, 8, 40], 2],
    [[40, 10], 1],
    [[2048, 8], 1],
  ];
  for (const [dims, lead] of cases) {
    it(`sums ${JSON.stringify(dims)} over ${lead} leading axes to the same bits with 1, 2 and 4 threads`, async () => {
      const n = dims.reduce((a, b) => a * b, 1);
      const x = new ort.Tensor(
        "float32",
        Float32Array.from({ length: n }, () => random() * 2 - 1),
        dims,
      );
      const hashes = new Set<string>();
      for (const threads of [1, 2, 4]) {
        const { bytes, y } = graphFor(threads, dims, lead);
        for (const spinning of threads === 1 ? [false] : [false, true]) {
          const session = await ort.InferenceSession.create(bytes, sessionOptions(threads, { spinning }));
          const out = (await session.run({ x }))[y]!.data as Float32Array;
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

  it("keeps the sign of a column of negative zeros with two threads, as one thread does", async () => {
    // onnxruntime's slow path starts each column's sum from +0, its fast path from the first row:
    // they differ only for a column of -0 (a dead ReLU unit's bias gradient), which the padding keeps.
    const dims = [128, 512];
    const data = Float32Array.from({ length: 128 * 512 }, (_, i) => (i % 512 === 0 ? -0 : random() - 0.5));
    for (const threads of [1, 2]) {
      const { bytes, y } = graphFor(threads, dims, 1);
      const session = await ort.InferenceSession.create(bytes, sessionOptions(threads));
      const out = (await session.run({ x: new ort.Tensor("float32", data, dims) }))[y]!.data as Float32Array;
      assert.ok(Object.is(out[0], -0), `${threads} threads summed the -0 column to ${out[0]}`);
      await session.release();
    }
  });

  it("pads the columns only where the thread count would miss onnxruntime's row-sum fast path", () => {
    assert.deepEqual(graphFor(1, [128, 512], 1).ops, ["ReduceSum"]);
    assert.deepEqual(graphFor(2, [128, 512], 1).ops, ["Pad", "ReduceSum", "Slice"]);
    // Wide enough already, or too few rows for the fast path at any width.
    assert.deepEqual(graphFor(2, [128, 1024], 1).ops, ["ReduceSum"]);
    assert.deepEqual(graphFor(2, [32, 512], 1).ops, ["ReduceSum"]);
    // One thread sums [40, 10] on the slow path: two threads must too.
    assert.deepEqual(graphFor(2, [40, 10], 1).ops, ["ReduceSum"]);
  });
});
