// A model's training FLOPs for inputs of given shapes, on the inspection worker: pricing loads the
// whole model, which is the same work (and the same risk) as inspecting it.
import {
  estimateTrainingFlops,
  loadModel,
  type ModelLimits,
  OnnxError,
} from "../../../worker-runtime/onnx/index.ts";
import { FileRejectedError } from "./rejection.ts";

export function priceModel(
  bytes: Uint8Array,
  inputShapes: ReadonlyMap<string, number[]>,
  limits: ModelLimits,
): number {
  try {
    return estimateTrainingFlops(loadModel(bytes, limits), inputShapes);
  } catch (error) {
    // Inspection accepted the model: what fails now is its shapes with this dataset's sizes.
    if (error instanceof OnnxError) {
      throw new FileRejectedError(
        "model_not_priceable",
        `The model cannot be priced with the dataset's sizes: ${error.message}`,
      );
    }
    throw error;
  }
}
