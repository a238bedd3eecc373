// Test support: the training step of one dense layer (y = x·Wᵀ + b, MSE loss) with given weights,
// for the optimizer tests that compare an update's bits between graph forms.
import type { Tensor } from "../onnx/dtypes.ts";
import { loadModel } from "../onnx/model.ts";
import { ModelBuilder } from "./model-builder.ts";
import type { OptimizerOptions } from "./optimizers.ts";
import { buildTrainingStep, type TrainingStepOptions } from "./training-step.ts";

/** The step of `weight` ([outputs, inputs]) and `bias` on batches of `batch`; input `x`. */
export function linearTrainingStep(
  weight: Tensor,
  bias: Tensor,
  batch: number,
  optimizer: OptimizerOptions,
  options: Pick<TrainingStepOptions, "packParameters" | "threads" | "clipGradNorm"> = {},
) {
  const m = new ModelBuilder(17);
  const input = m.input("x", "float32", ["batch", weight.dims[1]!]);
  m.initializer("weight", weight);
  m.initializer("bias", bias);
  const y = m.op("Gemm", [input, "weight", "bias"], { transB: 1 });
  m.output(y, "float32");
  return buildTrainingStep(loadModel(m.bytes()), {
    modelOutput: y,
    batchSize: batch,
    loss: { type: "mse" },
    optimizer,
    ...options,
  });
}
