// Accuracy from a batch of model outputs, per loss type: the fraction of predictions that
// match. Cross-entropy predicts the argmax over the class axis (axis 1, as torch), BCE with
// logits predicts logit > 0; MSE has no accuracy.
import type { Tensor } from "../onnx/index.ts";
import type { LossConfig } from "./spec.ts";

export interface Correct {
  correct: number;
  total: number;
}

type Counter = (
  output: Float32Array,
  outputDims: readonly number[],
  target: ArrayLike<number | bigint>,
) => Correct;

const counters: Record<LossConfig["type"], Counter | undefined> = {
  cross_entropy: (output, dims, target) => {
    const batch = dims[0]!;
    const classes = dims[1]!;
    const inner = dims.slice(2).reduce((a, b) => a * b, 1);
    let correct = 0;
    for (let n = 0; n < batch; n++) {
      for (let p = 0; p < inner; p++) {
        let best = 0;
        let bestValue = Number.NEGATIVE_INFINITY;
        for (let c = 0; c < classes; c++) {
          const v = output[(n * classes + c) * inner + p]!;
          if (v > bestValue) {
            bestValue = v;
            best = c;
          }
        }
        if (best === Number(target[n * inner + p])) correct++;
      }
    }
    return { correct, total: batch * inner };
  },
  bce_with_logits: (output, _dims, target) => {
    let correct = 0;
    for (let i = 0; i < output.length; i++) if (output[i]! > 0 === Number(target[i]) > 0.5) correct++;
    return { correct, total: output.length };
  },
  mse: undefined,
};

/** Correct predictions in a batch: `output` is the float32 model output, `target` the batch's targets. */
export function countCorrect(loss: LossConfig["type"], output: Tensor, target: Tensor): Correct | undefined {
  return counters[loss]?.(
    output.data as Float32Array,
    output.dims,
    target.data as ArrayLike<number | bigint>,
  );
}
