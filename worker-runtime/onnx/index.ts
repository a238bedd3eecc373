export type { AttributeValue } from "./attributes.ts";
export { bodyReads } from "./body-reads.ts";
export { bodyNodes, resolveControlFlow } from "./control-flow.ts";
export { type DType, elementCount, isFloat, type Tensor, type TensorData } from "./dtypes.ts";
export { OnnxError, type OnnxErrorCode } from "./errors.ts";
export { estimateTrainingFlops, hasFlopRule } from "./flops.ts";
export {
  type Dim,
  type GraphNode,
  type LoadedModel,
  loadModel,
  MAX_OPSET,
  MIN_OPSET,
  MODEL_LIMITS,
  type ModelLimits,
  type TensorInfo,
} from "./model.ts";
export { withInitializers } from "./serialize.ts";
export { type InferredGraph, inferShapes } from "./shape-inference.ts";
export type { ValueInfo } from "./shape-rules.ts";
