import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import { onnx } from "../onnx/proto.ts";
import { sessionOptions, toOrt } from "./gradient-check.ts";
import { linearTrainingStep } from "./linear-step.ts";
import { seededRandom } from "./model-builder.ts";
import type { OptimizerOptions } from "./optimizers.ts";

// A linear model with MSE, whose gradient is easy in plain TypeScript, trained three steps by the
// step graph and by torch.optim's update rules written out in float64.

const [batch, inputs, outputs] = [5, 4, 3];
const random = seededRandom(42);
const values = (n: number) => Array.from({ length: n }, () => Math.fround(random() * 2 - 1));
const x = values(batch * inputs);
const target = values(batch * outputs);
const initial = { weight: values(outputs * inputs), bias: values(outputs) };

const weightTensor = () => tensorFromNumbers("float32", [outputs, inputs], initial.weight);
const biasTensor = () => tensorFromNumbers("float32", [outputs], initial.bias);

/** d mean((xW^T + b - t)^2) for weight and bias. */
function gradients(weight: number[], bias: number[]): { weight: number[]; bias: number[] } {
  const dw = new Array(weight.length).fill(0);
  const db = new Array(bias.length).fill(0);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < outputs; o++) {
      let y = bias[o]!;
      for (let i = 0; i < inputs; i++) y += x[n * inputs + i]! * weight[o * inputs + i]!;
      const dy = (2 * (y - target[n * outputs + o]!)) / (batch * outputs);
      db[o] += dy;
      for (let i = 0; i < inputs; i++) dw[o * inputs + i] += dy * x[n * inputs + i]!;
    }
  }
  return { weight: dw, bias: db };
}

function torchReference(options: OptimizerOptions, lr: number, steps: number, clip?: number) {
  const params: Record<string, number[]> = { weight: [...initial.weight], bias: [...initial.bias] };
  const state: Record<string, number[][]> = {};
  for (let t = 1; t <= steps; t++) {
    const grads: Record<string, number[]> = gradients(params.weight!, params.bias!);
    if (clip !== undefined) {
      const total = Math.sqrt(Object.values(grads).reduce((a, g) => a + g.reduce((s, v) => s + v * v, 0), 0));
      const coefficient = Math.min(1, clip / (total + 1e-6));
      for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) g[i] = g[i]! * coefficient;
    }
    for (const name of ["weight", "bias"]) {
      const p = params[name]!;
      const g = grads[name]!;
      state[name] ??= [new Array(p.length).fill(0), new Array(p.length).fill(0)];
      const [a, b] = state[name]!;
      for (let i = 0; i < p.length; i++) {
        if (options.type === "sgd") {
          const { momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = options;
          let d = g[i]! + weightDecay * p[i]!;
          if (momentum !== 0) {
            a![i] = t === 1 ? d : momentum * a![i]! + (1 - dampening) * d;
            d = nesterov ? d + momentum * a![i]! : a![i]!;
          }
          p[i] = p[i]! - lr * d;
        } else {
          const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = options;
          const weightDecay = options.weightDecay ?? (options.type === "adamw" ? 0.01 : 0);
          let grad = g[i]!;
          if (options.type === "adamw") p[i] = p[i]! * (1 - lr * weightDecay);
          else grad += weightDecay * p[i]!;
          a![i] = beta1 * a![i]! + (1 - beta1) * grad;
          b![i] = beta2 * b![i]! + (1 - beta2) * grad * grad;
          const denominator = Math.sqrt(b![i]!) / Math.sqrt(1 - beta2 ** t) + eps;
          p[i] = p[i]! - (lr / (1 - beta1 ** t)) * (a![i]! / denominator);
        }
      }
    }
  }
  return params;
}

async function trainSteps(
  options: OptimizerOptions,
  lr: number,
  steps: number,
  packParameters: boolean,
  clip?: number,
) {
  const step = linearTrainingStep(weightTensor(), biasTensor(), batch, options, {
    packParameters,
    ...(clip === undefined ? {} : { clipGradNorm: clip }),
  });
  const session = await ort.InferenceSession.create(step.bytes, sessionOptions);
  const feeds: Record<string, ort.Tensor> = {
    x: toOrt(tensorFromNumbers("float32", [batch, inputs], x)),
    [step.inputs.target]: toOrt(tensorFromNumbers("float32", [batch, outputs], target)),
    [step.inputs.learningRate]: new ort.Tensor("float32", Float32Array.of(lr), []),
  };
  for (const p of step.params) feeds[p] = toOrt(step.initialParams.get(p)!);
  for (const s of step.state) feeds[s.name] = toOrt(s.init);
  for (let t = 1; t <= steps; t++) {
    feeds[step.inputs.step] = new ort.Tensor("int64", BigInt64Array.of(BigInt(t)), []);
    const result = await session.run(feeds);
    for (const p of step.params) feeds[p] = result[step.outputs.params.get(p)!]!;
    for (const s of step.state) feeds[s.name] = result[step.outputs.state.get(s.name)!]!;
  }
  const read = (name: string) => Array.from(feeds[name]!.data as Float32Array);
  if (!step.packing) return { weight: read("weight"), bias: read("bias") };
  const flat = read(step.packing.name);
  const slot = (name: string) => step.packing!.slots.find((s) => s.name === name)!;
  return {
    weight: flat.slice(slot("weight").offset, slot("weight").offset + outputs * inputs),
    bias: flat.slice(slot("bias").offset, slot("bias").offset + outputs),
  };
}

const cases: Array<{ name: string; options: OptimizerOptions; lr: number; clip?: number }> = [
  { name: "SGD", options: { type: "sgd" }, lr: 0.1 },
  // Unpacked, the weight's momentum buffer is updated inside its gradient's Gemm (C = buffer).
  { name: "SGD momentum", options: { type: "sgd", momentum: 0.9 }, lr: 0.1 },
  {
    name: "SGD momentum, dampening, weight decay",
    options: { type: "sgd", momentum: 0.9, dampening: 0.1, weightDecay: 0.01 },
    lr: 0.1,
  },
  {
    name: "SGD Nesterov",
    options: { type: "sgd", momentum: 0.8, nesterov: true, weightDecay: 0.05 },
    lr: 0.1,
  },
  { name: "Adam with L2 weight decay", options: { type: "adam", weightDecay: 0.01 }, lr: 0.05 },
  { name: "AdamW", options: { type: "adamw", beta1: 0.8, beta2: 0.99, weightDecay: 0.1 }, lr: 0.05 },
  { name: "Adam after clip_grad_norm_", options: { type: "adam" }, lr: 0.05, clip: 0.1 },
];

describe("optimizers follow torch.optim's update rules", () => {
  for (const c of cases) {
    for (const packed of [false, true]) {
      it(`${c.name}${packed ? " (packed parameters)" : ""}`, async () => {
        const expected = torchReference(c.options, c.lr, 3, c.clip);
        const actual = await trainSteps(c.options, c.lr, 3, packed, c.clip);
        for (const name of ["weight", "bias"] as const) {
          actual[name].forEach((v, i) => {
            assert.ok(
              Math.abs(v - expected[name]![i]!) <= 2e-6,
              `${name}[${i}]: ${v} vs torch rule ${expected[name]![i]}`,
            );
          });
        }
      });
    }
  }

  it("packed and unpacked parameters give bit-identical steps", async () => {
    const options: OptimizerOptions = { type: "adamw", weightDecay: 0.1 };
    assert.deepEqual(await trainSteps(options, 0.05, 3, true), await trainSteps(options, 0.05, 3, false));
  });

  it("SGD momentum updated inside the weight gradient's Gemm gives the bits of Mul then Add", async () => {
    const options: OptimizerOptions = { type: "sgd", momentum: 0.9 };
    const step = linearTrainingStep(weightTensor(), biasTensor(), batch, options);
    const nodes = onnx.ModelProto.decode(step.bytes).graph?.node ?? [];
    const folded = nodes.find((n) => n.opType === "Gemm" && n.input?.includes("weight.momentum_buffer"));
    assert.ok(folded, "the weight gradient's Gemm takes the momentum buffer as C");
    // Packed, the update runs as Mul then Add over the one parameter vector.
    assert.deepEqual(await trainSteps(options, 0.1, 3, true), await trainSteps(options, 0.1, 3, false));
  });
});
