import type { LoadedModel } from "../onnx/model.ts";
import { serializeStepGraph, valueInfo } from "./step-graph.ts";
import { differentiate, fixedInitializers, TARGET_INPUT, type TrainingStepOptions } from "./training-step.ts";

export interface GradientGraph {
  bytes: Uint8Array;
  params: string[];
  /** Running statistics, fed like the training step's state (their updates are not output). */
  state: string[];
  inputs: { batch: string[]; target: string };
  outputs: { loss: string; modelOutput: string; grads: Map<string, string> };
}

/**
 * Loss and parameter gradients without an optimizer, in the model's own float type: what the
 * gradient checks compare with finite differences, and what a verifier inspects in a dispute.
 */
export function buildGradientGraph(
  model: LoadedModel,
  options: Pick<TrainingStepOptions, "modelOutput" | "batchSize" | "inputShapes" | "loss" | "frozen">,
): GradientGraph {
  const { forward, params, runningStats, loss, grads, outputInfo, targetInfo } = differentiate(
    model,
    options,
  );
  const weight = (name: string) => {
    const t = model.initializers.get(name)!;
    return valueInfo({ name, dtype: t.dtype, shape: t.dims });
  };
  const gradOutputs = new Map([...grads].filter(([p]) => params.includes(p)));
  const bytes = serializeStepGraph(
    model,
    forward.g,
    "veritrain_gradients",
    [
      ...forward.inputs.map(valueInfo),
      valueInfo({ name: TARGET_INPUT, ...targetInfo }),
      ...params.map(weight),
      ...runningStats.map(weight),
    ],
    [
      valueInfo({ name: loss, dtype: outputInfo.dtype, shape: [] }),
      valueInfo({ name: options.modelOutput, ...outputInfo }),
      ...[...gradOutputs].map(([p, grad]) =>
        valueInfo({ name: grad, dtype: model.initializers.get(p)!.dtype }),
      ),
    ],
    fixedInitializers(model, forward, new Set([...params, ...runningStats])),
  );
  return {
    bytes,
    params,
    state: runningStats,
    inputs: { batch: model.inputs.map((i) => i.name), target: TARGET_INPUT },
    outputs: { loss, modelOutput: options.modelOutput, grads: gradOutputs },
  };
}
