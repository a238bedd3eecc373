// The options of the training-step graph a run compiles, from the spec, the model and the shapes
// of the data: what the step engine builds and graph-size.ts counts (both through
// optimised-graph.ts). Nothing here imports onnxruntime.
import type { LossOptions } from "../autodiff/index.ts";
import type { LoadedModel } from "../onnx/index.ts";
import type { PreparedData, PreparedSplit, SampleTensor } from "./data/prepare.ts";
import type { TrainingSpec } from "./spec.ts";
import type { BatchGeometry, SplitGeometry } from "./step-engine.ts";

/** The sizes of the batches `samples` split into: full ones, and the remainder unless dropped. */
export function batchSizes(samples: number, batchSize: number, dropLast: boolean): number[] {
  const sizes = samples >= batchSize ? [batchSize] : [];
  const rest = samples % batchSize;
  if (rest > 0 && !dropLast) sizes.push(rest);
  return sizes;
}

export function inputShapesAt(split: SplitGeometry, size: number): Record<string, number[]> {
  return Object.fromEntries([...split.inputs].map(([name, s]) => [name, [size, ...s.sampleDims]]));
}

/** Packing pays while parameter tensors hold this many elements on average, or fewer. */
const PACKED_ELEMENTS_PER_TENSOR = 32768;

export function lossOptions({ loss }: TrainingSpec): LossOptions {
  return loss.type === "cross_entropy"
    ? { type: "cross_entropy", labelSmoothing: loss.label_smoothing }
    : { type: loss.type };
}

export function stepOptions(model: LoadedModel, spec: TrainingSpec, batchSize: number) {
  const { optimizer: o } = spec;
  const floats = [...model.initializers.values()].filter(
    (t) => t.dtype === "float32" || t.dtype === "float64",
  );
  return {
    modelOutput: spec.output,
    batchSize,
    // One packed parameter vector when the model allows it (all float32) and its tensors are
    // small: far fewer tensors cross into onnxruntime per step, and the arithmetic is element for
    // element the same. Large tensors cross cheaply but cost two copies per step to unpack and
    // pack (15% of a step of the 784-512-512-10 MLP at batch 128), so they stay apart.
    packParameters:
      floats.every((t) => t.dtype === "float32") &&
      floats.reduce((n, t) => n + t.data.length, 0) <= PACKED_ELEMENTS_PER_TENSOR * floats.length,
    loss: lossOptions(spec),
    optimizer:
      o.type === "sgd"
        ? {
            type: "sgd" as const,
            momentum: o.momentum,
            dampening: o.dampening,
            nesterov: o.nesterov,
            weightDecay: o.weight_decay,
          }
        : { type: o.type, beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weight_decay },
    ...(spec.clip_grad_norm === undefined ? {} : { clipGradNorm: spec.clip_grad_norm }),
    frozen: spec.frozen,
  };
}

/** The shapes of every batch a run feeds: per-sample shapes from `data`, batch sizes from the sample counts. */
export function batchGeometry(
  data: PreparedData,
  spec: TrainingSpec,
  samples: { train: number; validation: number | undefined },
): BatchGeometry {
  const split = (prepared: PreparedSplit, count: number, dropLast: boolean): SplitGeometry => {
    const shape = (t: SampleTensor) => ({ dtype: t.dtype, sampleDims: t.sampleDims });
    return {
      inputs: new Map([...prepared.inputs].map(([name, t]) => [name, shape(t)])),
      target: shape(prepared.target),
      sizes: batchSizes(count, spec.batch_size, dropLast),
    };
  };
  return {
    train: split(data.train, samples.train, spec.drop_last),
    ...(data.validation && samples.validation !== undefined
      ? { validation: split(data.validation, samples.validation, false) }
      : {}),
  };
}
