// Loads an uploaded ONNX model with the training engine's loader and checks it against the
// engine's gradient table at upload time, so a job never fails later on an operator the
// engine cannot differentiate.
import { unsupportedOperators } from "../../../worker-runtime/autodiff/index.ts";
import {
  elementCount,
  isFloat,
  type LoadedModel,
  loadModel,
  MODEL_LIMITS,
  type ModelLimits,
  OnnxError,
  type TensorInfo,
} from "../../../worker-runtime/onnx/index.ts";
import { FileRejectedError } from "./rejection.ts";

export interface ValueSummary {
  name: string;
  dtype: string;
  /** Numbers for static dimensions, names for symbolic ones (e.g. "batch"). */
  shape: Array<number | string>;
}

export interface ParameterSummary {
  name: string;
  dtype: string;
  shape: number[];
}

export interface ModelDetails {
  opset: number;
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  /** The float initializers: what a training job may update. */
  parameters: ParameterSummary[];
  parameter_count: number;
  /** Node count per operator type; non-default domains are prefixed ("com.microsoft.Gelu"). */
  operators: Record<string, number>;
}

function load(bytes: Uint8Array, limits: ModelLimits): LoadedModel {
  try {
    return loadModel(bytes, limits);
  } catch (error) {
    if (error instanceof OnnxError && error.code === "LIMIT_EXCEEDED") {
      throw new FileRejectedError("invalid_model", `The model is larger than accepted: ${error.message}`);
    }
    if (error instanceof OnnxError || error instanceof RangeError) {
      throw new FileRejectedError("invalid_model", `The file is not a usable ONNX model: ${error.message}`);
    }
    throw error;
  }
}

function checkOperators(model: LoadedModel): void {
  const unsupported = unsupportedOperators(model).map((op) => ({ op_type: op.opType, nodes: op.nodes }));
  if (unsupported.length === 0) return;
  const listed = unsupported.map((op) => `${op.op_type} (nodes: ${op.nodes.join(", ")})`).join("; ");
  throw new FileRejectedError(
    "unsupported_operators",
    `The model uses ${unsupported.length} operator type(s) the training engine cannot differentiate: ${listed}`,
    unsupported,
  );
}

const summary = (info: TensorInfo): ValueSummary => ({
  name: info.name,
  dtype: info.dtype,
  shape: info.shape,
});

export function inspectModel(bytes: Uint8Array, limits: ModelLimits = MODEL_LIMITS): ModelDetails {
  const model = load(bytes, limits);
  checkOperators(model);
  const parameters = [...model.initializers]
    .filter(([, tensor]) => isFloat(tensor.dtype))
    .map(([name, tensor]) => ({ name, dtype: tensor.dtype, shape: tensor.dims }));
  // A Map: op types are the uploader's strings, and "constructor" or "__proto__" must count as any other.
  const operators = new Map<string, number>();
  for (const node of model.nodes) {
    const key = node.domain ? `${node.domain}.${node.opType}` : node.opType;
    operators.set(key, (operators.get(key) ?? 0) + 1);
  }
  return {
    opset: model.opset,
    inputs: model.inputs.map(summary),
    outputs: model.outputs.map(summary),
    parameters,
    parameter_count: parameters.reduce((sum, p) => sum + elementCount(p.shape), 0),
    operators: Object.fromEntries(operators),
  };
}
