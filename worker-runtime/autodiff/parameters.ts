import { bodyReads } from "../onnx/body-reads.ts";
import { isFloat } from "../onnx/dtypes.ts";
import type { LoadedModel } from "../onnx/model.ts";
import { AutodiffError } from "./errors.ts";
import { gradientRules, NON_DIFFERENTIABLE } from "./gradients.ts";

export interface ParameterSplit {
  /** Trained: float initializers on a differentiable path to the model output, not frozen, in file order. */
  params: string[];
  /** BatchNormalization running statistics: updated by training, never by gradients, even when frozen. */
  runningStats: string[];
}

export function splitParameters(
  model: LoadedModel,
  modelOutput: string,
  frozen: readonly string[] = [],
): ParameterSplit {
  for (const name of frozen) {
    if (!model.initializers.has(name)) {
      throw new AutodiffError(
        "UNKNOWN_PARAMETER",
        `frozen parameter ${name} is not an initializer of the model`,
      );
    }
  }
  const runningStats = model.nodes
    .filter((n) => n.opType === "BatchNormalization")
    .flatMap((n) => [n.inputs[3]!, n.inputs[4]!])
    .filter((name) => model.initializers.has(name));
  const reaching = tensorsReaching(model, modelOutput);
  const excluded = new Set([...frozen, ...runningStats]);
  const params = [...model.initializers]
    .filter(([name, t]) => isFloat(t.dtype) && !excluded.has(name) && reaching.has(name))
    .map(([name]) => name);
  return { params, runningStats: [...new Set(runningStats)] };
}

/** Every tensor the output depends on through differentiable operators. */
function tensorsReaching(model: LoadedModel, output: string): Set<string> {
  const reaching = new Set([output]);
  for (let i = model.nodes.length - 1; i >= 0; i--) {
    const node = model.nodes[i]!;
    if (gradientRules[node.opType] === NON_DIFFERENTIABLE) continue;
    if (node.outputs.some((o) => reaching.has(o)))
      for (const input of [...node.inputs, ...bodyReads(node.proto)]) if (input) reaching.add(input);
  }
  return reaching;
}
