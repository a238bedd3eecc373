import assert from "node:assert/strict";
import { describe, it } from "node:test";
import ort from "onnxruntime-node";
import { onnx } from "../onnx/proto.ts";
import { optimisedGraph } from "../train/optimised-graph.ts";
import { graphNodes } from "../train/pinpoint-graphs.ts";
import { sessionOptions } from "../train/profile.ts";
import { type ConvWeightGradient, convWeightGradient } from "./conv-forms.ts";
import { GraphBuilder } from "./graph-builder.ts";
import { seededRandom } from "./model-builder.ts";
import { valueInfo } from "./step-graph.ts";

const OPSET = 18;
const random = seededRandom(29);

/** The weight gradient of `conv` on inputs x and dy, optimised as training optimises it. */
async function gradientGraph(conv: Omit<ConvWeightGradient, "input" | "outputGrad">): Promise<Uint8Array> {
  const g = new GraphBuilder(OPSET);
  const dw = g.op("Identity", [convWeightGradient(g, { ...conv, input: "x", outputGrad: "dy" })]);
  const graph = g.toGraph(
    "conv_forms",
    [
      valueInfo({ name: "x", dtype: "float32", shape: [...conv.inputShape] }),
      valueInfo({ name: "dy", dtype: "float32", shape: [...conv.outputShape] }),
    ],
    [valueInfo({ name: dw, dtype: "float32" })],
  );
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: OPSET }],
    graph,
  }).finish();
  return optimisedGraph(bytes);
}

async function run(graph: Uint8Array, feeds: Record<string, ort.Tensor>, threads = 1): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(graph, sessionOptions(threads));
  const out = Object.values(await session.run(feeds))[0]!.data as Float32Array;
  await session.release();
  return out;
}

const tensor = (dims: number[]) =>
  new ort.Tensor(
    "float32",
    Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => random() * 2 - 1),
    dims,
  );
const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

/** The CNN fixture's second convolution: 8 to 16 channels, 3×3, padding 1, on 4×4 images. */
const fixtureConv = {
  inputShape: [32, 8, 4, 4],
  outputShape: [32, 16, 4, 4],
  group: 1,
  kernel: [3, 3],
  geometry: { strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1] },
};

describe("convWeightGradient", () => {
  it("takes one Gather of the windows and one Gemm, the windows as rows, which the optimiser keeps", async () => {
    const ops = graphNodes(await gradientGraph(fixtureConv)).map((n) => n.opType);
    assert.deepEqual(
      ops.filter((op) => op === "Gather" || op === "Gemm" || op === "Conv"),
      ["Gather", "Gemm"],
    );
    // Windows × gradientᵀ, then the [1, rows, columns] transpose that GemmTransposeFusion leaves alone.
    assert.ok(ops.includes("Transpose"));
  });

  it("leaves a batch whose windows would take more than 16 MB, and grouped convolutions, to Conv", async () => {
    const large = { ...fixtureConv, inputShape: [64, 64, 32, 32], outputShape: [64, 16, 32, 32] };
    const grouped = { ...fixtureConv, group: 2 };
    for (const conv of [large, grouped]) {
      const ops = graphNodes(await gradientGraph(conv)).map((n) => n.opType);
      assert.ok(ops.includes("Conv") && !ops.includes("Gather"), ops.join(", "));
    }
  });

  it("gives the same bits with 1, 2 and 4 threads", async () => {
    const feeds = { x: tensor(fixtureConv.inputShape), dy: tensor(fixtureConv.outputShape) };
    const graph = await gradientGraph(fixtureConv);
    const one = bits(await run(graph, feeds));
    for (const threads of [2, 4])
      assert.deepEqual(bits(await run(graph, feeds, threads)), one, `${threads} threads`);
  });

  it("equals the gradient's definition to rounding, with strides, dilations and uneven pads", async () => {
    const conv = {
      inputShape: [4, 3, 9, 8],
      outputShape: [4, 5, 5, 7],
      kernel: [3, 2],
      geometry: { strides: [2, 1], dilations: [1, 2], pads: [1, 0, 2, 1] },
    };
    const feeds = { x: tensor(conv.inputShape), dy: tensor(conv.outputShape) };
    const graph = await gradientGraph({ ...conv, group: 1 });
    assert.ok(graphNodes(graph).some((n) => n.opType === "Gather"));
    const unfolded = await run(graph, feeds);
    const reference = definition(conv, feeds);
    assert.equal(unfolded.length, reference.length);
    for (let i = 0; i < reference.length; i++) {
      assert.ok(
        Math.abs(unfolded[i]! - reference[i]!) <= 1e-5 * (1 + Math.abs(reference[i]!)),
        `element ${i}`,
      );
    }
  });
});

/** dW[m, c, k] = Σ dy[n, m, o] · x[n, c, o·stride + k·dilation - pad], summed in float64. */
function definition(
  conv: {
    inputShape: number[];
    outputShape: number[];
    kernel: number[];
    geometry: { strides: number[]; dilations: number[]; pads: number[] };
  },
  feeds: { x: ort.Tensor; dy: ort.Tensor },
): Float64Array {
  const [n, c, h, w] = conv.inputShape as [number, number, number, number];
  const [, m, oh, ow] = conv.outputShape as [number, number, number, number];
  const [kh, kw] = conv.kernel as [number, number];
  const { strides, dilations, pads } = conv.geometry;
  const x = feeds.x.data as Float32Array;
  const dy = feeds.dy.data as Float32Array;
  const dw = new Float64Array(m * c * kh * kw);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < m; o++)
      for (let i = 0; i < c; i++)
        for (let a = 0; a < kh; a++)
          for (let e = 0; e < kw; e++)
            for (let p = 0; p < oh; p++)
              for (let q = 0; q < ow; q++) {
                const row = p * strides[0]! + a * dilations[0]! - pads[0]!;
                const col = q * strides[1]! + e * dilations[1]! - pads[1]!;
                if (row < 0 || row >= h || col < 0 || col >= w) continue;
                dw[((o * c + i) * kh + a) * kw + e]! +=
                  dy[((b * m + o) * oh + p) * ow + q]! * x[((b * c + i) * h + row) * w + col]!;
              }
  return dw;
}
