import type { LoadedModel } from "../onnx/model.ts";
import { buildForward } from "./forward.ts";
import { type LossOptions, losses } from "./losses.ts";
import { emitUnpack, type ParameterPacking, planPacking } from "./packing.ts";
import { splitParameters } from "./parameters.ts";
import { serializeStepGraph, valueInfo } from "./step-graph.ts";
import { checkModelOutput, fixedInitializers, TARGET_INPUT } from "./training-step.ts";

export interface EvalStepOptions {
  modelOutput: string;
  batchSize: number | "dynamic";
  inputShapes?: Record<string, number[]>;
  loss: LossOptions;
  /** The same list as for the training step: frozen parameters stay initializers here too. */
  frozen?: string[];
  /** Take the parameters as the training step's packed vector (same layout, same input name). */
  packParameters?: boolean;
}

export interface EvalStepGraph {
  bytes: Uint8Array;
  /** Graph inputs fed from the trainer's parameters, same names as the training step's. */
  params: string[];
  /** Present with packParameters: the layout of the packed vector in `params`. */
  packing?: ParameterPacking;
  /** Running statistics read (not updated) in inference mode. */
  state: string[];
  inputs: { batch: string[]; target: string };
  /** `correct`: classification losses' count of correct predictions (float32 scalar). */
  outputs: { loss: string; correct?: string; modelOutput: string };
}

/** Forward in inference mode (running statistics, no dropout), the loss, and the model output. */
export function buildEvalStep(model: LoadedModel, options: EvalStepOptions): EvalStepGraph {
  checkModelOutput(model, options.modelOutput);
  const { params, runningStats } = splitParameters(model, options.modelOutput, options.frozen);
  const forward = buildForward(model, { ...options, training: false });
  const { g } = forward;
  const packing = options.packParameters ? planPacking(params, model.initializers) : undefined;
  if (packing) emitUnpack(g, packing);
  const outputInfo = forward.inferred.infos.get(options.modelOutput)!;
  const definition = losses[options.loss.type];
  const { loss, correct } = g.scoped("loss", () =>
    definition.emit(
      { g, output: options.modelOutput, outputInfo, target: TARGET_INPUT, withGradient: false },
      options.loss,
    ),
  );
  const weight = (name: string) => {
    const t = model.initializers.get(name)!;
    return valueInfo({ name, dtype: t.dtype, shape: t.dims });
  };
  const bytes = serializeStepGraph(
    model,
    g,
    "veritrain_eval_step",
    [
      ...forward.inputs.map(valueInfo),
      valueInfo({ name: TARGET_INPUT, ...definition.target(outputInfo) }),
      ...(packing
        ? [valueInfo({ name: packing.name, dtype: "float32", shape: [packing.size] })]
        : params.map(weight)),
      ...runningStats.map(weight),
    ],
    [
      valueInfo({ name: loss, dtype: outputInfo.dtype, shape: [] }),
      valueInfo({ name: options.modelOutput, ...outputInfo }),
    ],
    fixedInitializers(model, forward, new Set([...params, ...runningStats])),
  );
  return {
    bytes,
    params: packing ? [packing.name] : params,
    ...(packing ? { packing } : {}),
    state: runningStats,
    inputs: { batch: model.inputs.map((i) => i.name), target: TARGET_INPUT },
    outputs: { loss, ...(correct ? { correct } : {}), modelOutput: options.modelOutput },
  };
}
