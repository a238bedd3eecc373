import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import type { AttributeValue } from "../onnx/attributes.ts";
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import { loadModel } from "../onnx/model.ts";
import { sessionOptions, toOrt } from "./gradient-check.ts";
import { buildGradientGraph } from "./gradient-graph.ts";
import { ModelBuilder, seededRandom } from "./model-builder.ts";
import { unsupportedOperators } from "./support.ts";

// The unrolled LSTM/GRU/RNN that training differentiates must compute what onnxruntime's own
// kernels compute (which evaluation runs); gradients.test.ts checks its gradients.

// The last entry, when present, is sequence_lens (PyTorch's packed sequences): one sequence of
// every length class, full, shorter, a single step.
const configs: Array<[string, number, Record<string, AttributeValue>, number[]?]> = [
  ["LSTM", 4, {}],
  ["LSTM", 4, { direction: "bidirectional" }],
  ["GRU", 3, { linear_before_reset: 1, direction: "bidirectional" }],
  ["GRU", 3, { direction: "reverse" }],
  ["RNN", 1, { activations: { strings: ["Relu"] } }],
  ["LSTM", 4, { direction: "bidirectional" }, [5, 2, 1]],
  ["GRU", 3, { linear_before_reset: 1, direction: "reverse" }, [1, 5, 3]],
  ["RNN", 1, {}, [3, 1, 5]],
];

describe("recurrent operators unrolled for training compute what onnxruntime computes", () => {
  for (const [opType, gates, attrs, lengths] of configs) {
    it(`${opType} ${JSON.stringify(attrs)}${lengths ? ` sequence_lens ${lengths}` : ""}`, async () => {
      const [steps, batch, features, hidden] = [5, 3, 4, 3];
      const dirs = attrs.direction === "bidirectional" ? 2 : 1;
      const random = seededRandom(gates * 7 + dirs);
      const m = new ModelBuilder();
      const p = (name: string, dims: number[]) => m.random(name, "float32", dims, random, 0.6);
      const x = m.input("x", "float32", [steps, "batch", features]);
      const initial = [
        p("h0", [dirs, batch, hidden]),
        ...(opType === "LSTM" ? [p("c0", [dirs, batch, hidden])] : []),
      ];
      const inputs = [
        x,
        p("w", [dirs, gates * hidden, features]),
        p("r", [dirs, gates * hidden, hidden]),
        p("b", [dirs, 2 * gates * hidden]),
        lengths ? m.input("lengths", "int32", ["batch"]) : "",
        ...initial,
      ];
      const outputs = m.node(opType, inputs, { hidden_size: hidden, ...attrs }, opType === "LSTM" ? 3 : 2);
      const flat = outputs.map((o) => m.op("Flatten", [o], { axis: 0 }));
      const output = m.op("Concat", flat, { axis: 1 });
      m.output(output, "float32");
      const model = loadModel(m.bytes());
      assert.deepEqual(unsupportedOperators(model), []);
      const data = toOrt(
        tensorFromNumbers(
          "float32",
          [steps, batch, features],
          Array.from({ length: steps * batch * features }, () => random() * 2 - 1),
        ),
      );
      const fed: Record<string, ort.Tensor> = {
        x: data,
        ...(lengths ? { lengths: toOrt(tensorFromNumbers("int32", [batch], lengths)) } : {}),
      };
      const plain = await ort.InferenceSession.create(m.bytes(), sessionOptions);
      const expected = (await plain.run(fed))[output]!.data as Float32Array;
      const graph = buildGradientGraph(model, {
        modelOutput: output,
        batchSize: "dynamic",
        loss: { type: "mse" },
      });
      const session = await ort.InferenceSession.create(graph.bytes, sessionOptions);
      const feeds: Record<string, ort.Tensor> = {
        ...fed,
        [graph.inputs.target]: new ort.Tensor("float32", new Float32Array(expected.length), [
          1,
          expected.length,
        ]),
      };
      for (const name of graph.params) feeds[name] = toOrt(model.initializers.get(name)!);
      const unrolled = (await session.run(feeds, [graph.outputs.modelOutput]))[graph.outputs.modelOutput]!
        .data as Float32Array;
      assert.equal(unrolled.length, expected.length);
      const worst = Math.max(...expected.map((v, i) => Math.abs(v - unrolled[i]!)));
      assert.ok(worst < 1e-6, `largest difference ${worst}`);
    });
  }
});
