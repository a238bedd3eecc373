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

export async function checkGradients(
  model: LoadedModel,
  options: GradientCheckOptions,
): Promise<GradientMismatch[]> {
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
  const gradNames = [...graph.outputs.grads.values()];
  const analytic = await run([graph.outputs.loss, ...gradNames]);
  const mismatches: GradientMismatch[] = [];
  for (const param of graph.params) {
    const gradName = graph.outputs.grads.get(param);
    const data = values.get(param)!.data as Float32Array | Float64Array;
    for (let i = 0; i < data.length; i++) {
      const original = data[i]!;
      data[i] = original + options.h;
      const plus = Number((await run([graph.outputs.loss]))[graph.outputs.loss]!.data[0]);
      data[i] = original - options.h;
      const minus = Number((await run([graph.outputs.loss]))[graph.outputs.loss]!.data[0]);
      data[i] = original;
      const numeric = (plus - minus) / (2 * options.h);
      const computed = gradName ? Number(analytic[gradName]!.data[i]) : 0;
      if (!(Math.abs(computed - numeric) <= options.atol + options.rtol * Math.abs(numeric))) {
        mismatches.push({ param, index: i, analytic: computed, numeric });
      }
    }
  }
  return mismatches;
}
