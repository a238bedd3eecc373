import assert from "node:assert/strict";
import { describe, it } from "node:test";
import ort from "onnxruntime-node";
import { onnx } from "../onnx/proto.ts";
import { optimisedGraph } from "../train/optimised-graph.ts";
import { graphNodes } from "../train/pinpoint-graphs.ts";
import { sessionOptions } from "../train/profile.ts";
import { accumulateInGemm, gemm, rowSumInGemm } from "./gemm-forms.ts";
import { GraphBuilder } from "./graph-builder.ts";
import { seededRandom } from "./model-builder.ts";
import { valueInfo } from "./step-graph.ts";

const OPSET = 18;
const random = seededRandom(23);

/** The graph `build` emits on float32 inputs of `shapes`, optimised as training optimises it. */
async function graphOf(
  shapes: Record<string, number[]>,
  build: (g: GraphBuilder) => string,
  threads = 1,
): Promise<{ bytes: Uint8Array; y: string }> {
  const g = new GraphBuilder(OPSET, threads);
  const y = build(g);
  const graph = g.toGraph(
    "gemm_forms",
    Object.entries(shapes).map(([name, shape]) => valueInfo({ name, dtype: "float32", shape })),
    [valueInfo({ name: y, dtype: "float32" })],
  );
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: OPSET }],
    graph,
  }).finish();
  return { bytes: await optimisedGraph(bytes), y };
}

async function run(
  graph: { bytes: Uint8Array; y: string },
  feeds: Record<string, Float32Array>,
  shapes: Record<string, number[]>,
  threads = 1,
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(graph.bytes, sessionOptions(threads));
  const tensors = Object.fromEntries(
    Object.entries(feeds).map(([name, data]) => [name, new ort.Tensor("float32", data, shapes[name]!)]),
  );
  const out = (await session.run(tensors))[graph.y]!.data as Float32Array;
  await session.release();
  return out;
}

const randoms = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

describe("gemm: a product of a transposed A", () => {
  // A weight gradient dYᵀ·X of the compute-bound MLP, momentum in C.
  const shapes = { dy: [128, 512], x: [128, 784], c: [512, 784] };
  const attributes = { transA: 1, beta: { float: 0.9 } };

  it("transposes A once, in a form onnxruntime's optimiser keeps, where MLAS would do it per panel", async () => {
    const graph = await graphOf(shapes, (g) => gemm(g, "dy", "x", attributes, { a: shapes.dy, b: shapes.x }));
    assert.ok(graphNodes(graph.bytes).some((n) => n.opType === "Transpose"));
    // Narrow outputs are left to MLAS: one or two panels of columns.
    const narrow = await graphOf({ dy: [128, 512], x: [128, 200] }, (g) =>
      gemm(g, "dy", "x", { transA: 1 }, { a: [128, 512], b: [128, 200] }),
    );
    assert.deepEqual(
      graphNodes(narrow.bytes).map((n) => n.opType),
      ["Gemm"],
    );
  });

  it("gives the bits of Gemm with transA, with 1, 2 and 4 threads, C added as the optimizer adds it", async () => {
    const feeds = { dy: randoms(128 * 512), x: randoms(128 * 784), c: randoms(512 * 784) };
    const plain = await graphOf(shapes, (g) => g.op("Gemm", ["dy", "x", "c"], attributes));
    const reference = await run(plain, feeds, shapes);
    for (const threads of [1, 2, 4]) {
      const graph = await graphOf(
        shapes,
        (g) => {
          const y = gemm(g, "dy", "x", attributes, { a: shapes.dy, b: shapes.x });
          // optimizers.ts (momentumInGemm) gives the gradient's Gemm its C afterwards.
          g.nodes.at(-1)!.input!.push("c");
          return y;
        },
        threads,
      );
      assert.deepEqual(bits(await run(graph, feeds, shapes, threads)), bits(reference));
    }
  });
});

describe("rowSumInGemm: a bias's batch sum and momentum in one Gemm", () => {
  const shapes = { dy: [128, 300], c: [300] };

  it("sums the rows to ReduceSum's bits with 1, 2 and 4 threads, a column of -0 to +0", async () => {
    // MLAS's kernel for one-row products (beta 0 or 1) adds in another order: 1-ulp differences
    // in a random [128, 512] gradient. The plain sum keeps off it.
    const sumShapes = { dy: [128, 512] };
    const dy = randoms(128 * 512);
    for (let r = 0; r < 128; r++) dy[r * 512] = -0;
    const expected = await run(
      await graphOf(sumShapes, (g) => g.reduceSum("dy", [0], false)),
      { dy },
      sumShapes,
    );
    expected[0] = 0;
    for (const threads of [1, 2, 4]) {
      const graph = await graphOf(
        sumShapes,
        (g) => g.reshape(rowSumInGemm(g, "dy", 128), g.ints([512])),
        threads,
      );
      assert.deepEqual(bits(await run(graph, { dy }, sumShapes, threads)), bits(expected));
    }
  });

  it("gives the bits of ReduceSum, Mul and Add, with 1, 2 and 4 threads, zero columns included", async () => {
    // Column 0 all -0 (a dead unit's gradient), column 1 all +0, column 2 -0 then +0; the buffer
    // starts at +0 as training's does, or holds momentum.
    const dy = randoms(128 * 300);
    for (let r = 0; r < 128; r++) {
      dy[r * 300] = -0;
      dy[r * 300 + 1] = 0;
      dy[r * 300 + 2] = r === 0 ? -0 : 0;
    }
    for (const c of [new Float32Array(300), randoms(300)]) {
      const feeds = { dy, c };
      const separate = await graphOf(shapes, (g) =>
        g.add(g.mul("c", g.scalar(0.9, "float32")), g.reduceSum("dy", [0], false)),
      );
      const reference = await run(separate, feeds, shapes);
      for (const threads of [1, 2, 4]) {
        const graph = await graphOf(
          shapes,
          (g) => {
            const sum = rowSumInGemm(g, "dy", 128);
            accumulateInGemm(g.nodes.at(-1)!, "c", 0.9);
            return g.reshape(sum, g.ints([300]));
          },
          threads,
        );
        assert.deepEqual(bits(await run(graph, feeds, shapes, threads)), bits(reference));
      }
    }
  });
});
