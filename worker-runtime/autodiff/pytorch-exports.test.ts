import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { type DType, tensorFromNumbers } from "../onnx/dtypes.ts";
import { loadModel } from "../onnx/model.ts";
import { sessionOptions, toOrt } from "./gradient-check.ts";
import { buildGradientGraph } from "./gradient-graph.ts";
import { unsupportedOperators } from "./support.ts";

// Models as torch.onnx.export writes them (opsets 13, 15, 17), with the loss and gradients PyTorch
// itself computed for the same weights and batch (fixtures/autodiff/make_autodiff_fixtures.py).

interface Reference {
  opset: number;
  input: { dtype: DType; shape: number[]; data: number[] };
  target: number[];
  loss: number;
  gradients: Record<string, number[]>;
}

const fixtures = new URL("../fixtures/autodiff/", import.meta.url);

describe("gradients of PyTorch exports equal PyTorch's own", () => {
  for (const name of ["sequence_ops13", "image_ops17", "math_ops15", "resize_ops17", "grid_sample_ops16"]) {
    it(name, async () => {
      const model = loadModel(readFileSync(new URL(`${name}.onnx`, fixtures)));
      const reference = JSON.parse(readFileSync(new URL(`${name}.json`, fixtures), "utf8")) as Reference;
      assert.equal(model.opset, reference.opset);
      assert.deepEqual(unsupportedOperators(model), []);
      const graph = buildGradientGraph(model, {
        modelOutput: "logits",
        batchSize: "dynamic",
        loss: { type: "cross_entropy" },
      });
      const session = await ort.InferenceSession.create(graph.bytes, sessionOptions);
      const feeds: Record<string, ort.Tensor> = {
        input: toOrt(tensorFromNumbers(reference.input.dtype, reference.input.shape, reference.input.data)),
        [graph.inputs.target]: toOrt(tensorFromNumbers("int64", [reference.target.length], reference.target)),
      };
      for (const p of [...graph.params, ...graph.state]) feeds[p] = toOrt(model.initializers.get(p)!);
      const result = await session.run(feeds);
      assert.ok(Math.abs(Number(result[graph.outputs.loss]!.data[0]) - reference.loss) < 1e-5);
      const compared = Object.keys(reference.gradients).filter((p) => graph.params.includes(p));
      assert.ok(compared.length >= 4, `only ${compared.length} parameters keep their PyTorch names`);
      for (const param of compared) {
        const ours = result[graph.outputs.grads.get(param)!]!.data as Float32Array;
        const theirs = reference.gradients[param]!;
        theirs.forEach((value, i) => {
          assert.ok(
            Math.abs(ours[i]! - value) <= 1e-5 + 1e-4 * Math.abs(value),
            `${param}[${i}]: ${ours[i]} vs torch ${value}`,
          );
        });
      }
    });
  }
});
