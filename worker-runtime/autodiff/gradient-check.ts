// Test support: compares the gradients a gradient graph computes with central finite differences
// of its own loss output, parameter by parameter, element by element.
import * as ort from "onnxruntime-node";
import type { Tensor } from "../onnx/dtypes.ts";
import type { LoadedModel } from "../onnx/model.ts";
import { buildGradientGraph } from "./gradient-graph.ts";
import type { LossOptions } from "./losses.ts";

export interface GradientCheckOptions {
  modelOutput: string;
  loss: LossOptions;
  batch: Map<string, Tensor>;
  target: Tensor;
  /** Finite-difference step. */
  h: number;
  /** |analytic - numeric| must stay below atol + rtol |numeric|. */
  atol: number;
  rtol: number;
  frozen?: string[];
}

export interface GradientMismatch {
  param: string;
  index: number;
  analytic: number;
  numeric: number;
}

export const sessionOptions: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
};

export function toOrt(t: Tensor): ort.Tensor {
  const type = t.dtype === "bool" ? "bool" : t.dtype;
  return new ort.Tensor(type, t.data, t.dims);
}

export interface GradientComparison {
  analytic: Map<string, Float64Array>;
  numeric: Map<string, Float64Array>;
}

/** Analytic gradients from the gradient graph and central differences of its loss, per parameter. */
export async function compareGradients(
  model: LoadedModel,
  options: Omit<GradientCheckOptions, "atol" | "rtol">,
): Promise<GradientComparison> {
  const graph = buildGradientGraph(model, { ...options, batchSize: "dynamic" });
  const session = await ort.InferenceSession.create(graph.bytes, sessionOptions);
  const values = new Map<string, Tensor>();
  for (const name of [...graph.params, ...graph.state]) {
    const t = model.initializers.get(name)!;
    values.set(name, { ...t, data: t.data.slice() });
  }
  const run = async (names: string[]) => {
    const feeds: Record<string, ort.Tensor> = { [graph.inputs.target]: toOrt(options.target) };
    for (const [name, t] of options.batch) feeds[name] = toOrt(t);
    for (const [name, t] of values) feeds[name] = toOrt(t);
    return session.run(feeds, names);
  };
  const lossAt = async () => Number((await run([graph.outputs.loss]))[graph.outputs.loss]!.data[0]);
  const gradNames = [...graph.outputs.grads.values()];
  const computed = await run([graph.outputs.loss, ...gradNames]);
  const analytic = new Map<string, Float64Array>();
  const numeric = new Map<string, Float64Array>();
  for (const param of graph.params) {
    const gradName = graph.outputs.grads.get(param);
    const data = values.get(param)!.data as Float32Array | Float64Array;
    analytic.set(
      param,
      gradName ? Float64Array.from(computed[gradName]!.data as Float32Array) : new Float64Array(data.length),
    );
    const estimate = new Float64Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const original = data[i]!;
      data[i] = original + options.h;
      const plus = await lossAt();
      data[i] = original - options.h;
      const minus = await lossAt();
      data[i] = original;
      estimate[i] = (plus - minus) / (2 * options.h);
    }
    numeric.set(param, estimate);
  }
  return { analytic, numeric };
}

export async function checkGradients(
  model: LoadedModel,
  options: GradientCheckOptions,
): Promise<GradientMismatch[]> {
  const { analytic, numeric } = await compareGradients(model, options);
  const mismatches: GradientMismatch[] = [];
  for (const [param, expected] of numeric) {
    const actual = analytic.get(param)!;
    expected.forEach((n, index) => {
      const a = actual[index]!;
      if (!(Math.abs(a - n) <= options.atol + options.rtol * Math.abs(n))) {
        mismatches.push({ param, index, analytic: a, numeric: n });
      }
    });
  }
  return mismatches;
}
