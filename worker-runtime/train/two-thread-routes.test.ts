import assert from "node:assert/strict";
import { describe, it } from "node:test";
import ort from "onnxruntime-node";
import { ModelBuilder, seededRandom } from "../autodiff/index.ts";
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import { sessionOptions } from "./profile.ts";
import { twoCopies, twoThreadRoutes } from "./two-thread-routes.ts";

function layer(batch: number) {
  const random = seededRandom(5);
  const m = new ModelBuilder(17);
  const x = m.input("x", "float32", [batch, 16]);
  m.output(m.op("Relu", [m.op("MatMul", [x, m.random("w", "float32", [16, 8], random)])]), "float32");
  const values = Array.from({ length: batch * 16 }, (_, i) => Math.sin(i));
  return { graph: m.bytes(), feeds: new Map([["x", tensorFromNumbers("float32", [batch, 16], values)]]) };
}

describe("two-thread routes", () => {
  it("copies a graph beside itself under two prefixes, each copy computing what the graph does", async () => {
    const { graph, feeds } = layer(4);
    const x = feeds.get("x")!;
    const fed = () => new ort.Tensor("float32", x.data as Float32Array, x.dims);
    const alone = await ort.InferenceSession.create(graph, sessionOptions(1));
    const both = await ort.InferenceSession.create(twoCopies(graph, ["a/", "b/"]), sessionOptions(1));
    try {
      const [output] = alone.outputNames;
      assert.deepEqual([...both.inputNames].sort(), ["a/x", "b/x"]);
      const expected = (await alone.run({ x: fed() }))[output!]!.data;
      const result = await both.run({ "a/x": fed(), "b/x": fed() });
      assert.deepEqual(result[`a/${output}`]!.data, expected);
      assert.deepEqual(result[`b/${output}`]!.data, expected);
    } finally {
      await alone.release();
      await both.release();
    }
  });

  it("measures every route and stops its worker threads", async () => {
    const rates = await twoThreadRoutes(layer(8), layer(4), { steps: 3, bursts: 2, warmup: 1 });
    for (const [route, rate] of Object.entries(rates)) {
      assert.ok(Number.isFinite(rate) && rate > 0, `${route}: ${rate} steps/s`);
    }
  });
});
