import assert from "node:assert/strict";
import { describe, it } from "node:test";
import ort from "onnxruntime-node";
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import { loadModel } from "../onnx/model.ts";
import { sessionOptions, toOrt } from "./gradient-check.ts";
import { buildGradientGraph } from "./gradient-graph.ts";
import { ModelBuilder, seededRandom } from "./model-builder.ts";

// The sampling points come from the model's own values (an STN's affine grid, a flow field): when
// training diverges they hold NaN or infinities. The gradient must then run, instead of indexing a
// pixel outside the data (which onnxruntime refuses mid-run), and give such a point no weight, as
// a point far outside the image, instead of spreading NaN into the image's gradient (what the
// forward reads there is onnxruntime's affair; a non-finite loss stops the run as DIVERGED).
describe("GridSample's gradient at non-finite sampling points", () => {
  for (const [mode, padding] of [
    ["bilinear", "zeros"],
    ["bilinear", "border"],
    ["nearest", "zeros"],
  ] as const) {
    it(`${mode}, ${padding}: runs, weighing such points as points far outside the image`, async () => {
      const m = new ModelBuilder(17);
      const grid = m.random("grid", "float32", [1, 2, 2, 2], seededRandom(5));
      const x = m.random("x", "float32", [1, 1, 3, 3], seededRandom(4));
      const out = m.op("GridSample", [x, grid], { mode, padding_mode: padding });
      m.output(out, "float32");
      const model = loadModel(m.bytes());
      const graph = buildGradientGraph(model, { modelOutput: out, batchSize: 1, loss: { type: "mse" } });
      const session = await ort.InferenceSession.create(graph.bytes, sessionOptions);
      const run = async (points: number[]) => {
        const result = await session.run({
          grid: toOrt(tensorFromNumbers("float32", [1, 2, 2, 2], points)),
          x: toOrt(model.initializers.get("x")!),
          [graph.inputs.target]: new ort.Tensor("float32", Float32Array.of(0.5, -0.5, 0.25, 1), [1, 1, 2, 2]),
        });
        const grad = (name: string) =>
          Array.from(result[graph.outputs.grads.get(name)!]!.data as Float32Array);
        return { x: grad("x"), grid: grad("grid") };
      };
      const far = 100;
      const wild = await run([
        0.1,
        -0.3,
        Number.NaN,
        0.2,
        Number.POSITIVE_INFINITY,
        0.5,
        -0.4,
        Number.NEGATIVE_INFINITY,
      ]);
      const outside = await run([0.1, -0.3, far, 0.2, far, 0.5, -0.4, -far]);
      assert.ok([...wild.x, ...wild.grid].every(Number.isFinite), `gradients ${wild.x} ${wild.grid}`);
      // The finite point keeps its gradient, and the others reach no pixel (border padding clamps
      // a point far outside onto the edge, where a point that is not finite reads nothing).
      assert.deepEqual(wild.grid.slice(0, 2), outside.grid.slice(0, 2));
      if (padding === "zeros") assert.deepEqual(wild.x, outside.x);
    });
  }
});
