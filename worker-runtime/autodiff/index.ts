export { AutodiffError, type AutodiffErrorCode } from "./errors.ts";
export { buildEvalStep, type EvalStepGraph, type EvalStepOptions } from "./eval-step.ts";
export { DROPOUT_SEED_INPUT } from "./forward.ts";
export { buildGradientGraph, type GradientGraph } from "./gradient-graph.ts";
export type { LossOptions } from "./losses.ts";
export { ModelBuilder, seededRandom } from "./model-builder.ts";
export { loopTrainingStep, type MultiStepGraph } from "./multi-step.ts";
export type { OptimizerOptions } from "./optimizers.ts";
export {
  PACKED_PARAMETERS,
  type PackedSlot,
  type ParameterPacking,
  packTensors,
  unpackTensors,
} from "./packing.ts";
export {
  isSupportedOperator,
  type SupportedOperator,
  supportedOperatorTable,
  type UnsupportedOperator,
  unsupportedOperators,
} from "./support.ts";
export {
  buildTrainingStep,
  LEARNING_RATE_INPUT,
  STEP_INPUT,
  type StateTensor,
  TARGET_INPUT,
  type TrainingStepGraph,
  type TrainingStepOptions,
} from "./training-step.ts";
