// Turns dataset tensors into what the step graph is fed, checking them against the model first:
// every mismatch (missing tensor, shape, dtype, sample count, class index range, an index past
// the table it looks up, a NaN or infinity) is reported together, by tensor name and sample,
// before any training starts.
import {
  allocate,
  type DType,
  elementCount,
  isFloat,
  type Tensor,
  type TensorData,
} from "../../onnx/dtypes.ts";
import type { Dim, LoadedModel, TensorInfo } from "../../onnx/model.ts";
import { TrainError, type TrainIssue } from "../errors.ts";
import type { TrainingSpec } from "../spec.ts";
import type { Dataset } from "./dataset.ts";
import type { Xoshiro128 } from "./prng.ts";

/** One tensor, converted to the dtype the graph wants, with axis 0 as the sample axis. */
export interface SampleTensor {
  name: string;
  dtype: DType;
  sampleDims: number[];
  sampleSize: number;
  data: TensorData;
}

export interface PreparedSplit {
  samples: number;
  /** Keyed by model input name. */
  inputs: Map<string, SampleTensor>;
  target: SampleTensor;
}

export interface PreparedData {
  train: PreparedSplit;
  validation?: PreparedSplit;
  /** Number of classes for cross-entropy (the model output's class axis), for accuracy. */
  classes?: number;
}

const shapeText = (dims: readonly Dim[]) => `[${dims.join(", ")}]`;

/**
 * Whether a dataset tensor of dtype `from` can feed an input of dtype `to` at all: floats take
 * any values; int64 takes any whose values are whole numbers (checked when converting).
 */
export function convertsTo(from: DType, to: DType): boolean {
  return from === to || to === "int64" || isFloat(to);
}

function convert(source: Tensor, dtype: DType): TensorData | undefined {
  if (source.dtype === dtype) return source.data;
  if (!convertsTo(source.dtype, dtype)) return undefined;
  const out = allocate(dtype, source.data.length);
  const values = source.data as ArrayLike<number | bigint>;
  if (out instanceof BigInt64Array) {
    for (let i = 0; i < values.length; i++) {
      const v = Number(values[i]);
      if (!Number.isInteger(v)) return undefined;
      out[i] = BigInt(v);
    }
    return out;
  }
  for (let i = 0; i < values.length; i++) out[i] = Number(values[i]);
  return out;
}

function sampleTensor(name: string, source: Tensor, dtype: DType): SampleTensor | TrainIssue {
  const data = convert(source, dtype);
  if (!data) {
    return {
      path: name,
      message: `holds ${source.dtype} values that do not convert exactly to ${dtype} (integers are needed for class targets)`,
    };
  }
  const sampleDims = source.dims.slice(1);
  return { name, dtype, sampleDims, sampleSize: elementCount(sampleDims), data };
}

/**
 * Per-sample dims (axis 1 on) must equal the model's where the model fixes them; symbolic dims
 * accept any size. Axis 0 is the batch for the model and the sample count for the data.
 */
function shapeMatches(expected: readonly Dim[], actual: readonly number[]): boolean {
  return (
    expected.length === actual.length &&
    expected.every((d, i) => i === 0 || typeof d === "string" || d === actual[i])
  );
}

interface Mapping {
  inputs: Record<string, string>;
  target: string;
}

function prepareSplit(
  model: LoadedModel,
  dataset: Dataset,
  spec: TrainingSpec,
  mapping: Mapping,
  output: TensorInfo,
  issues: TrainIssue[],
): PreparedSplit | undefined {
  const inputs = new Map<string, SampleTensor>();
  const counts: Array<[string, number]> = [];
  const lookup = (name: string, role: string): Tensor | undefined => {
    const tensor = dataset.tensor(name);
    if (!tensor) {
      issues.push({
        path: name,
        message: `${role}: the dataset has no such tensor; it has ${dataset.names.join(", ")}`,
      });
    } else if (tensor.dims.length === 0) {
      issues.push({ path: name, message: `${role}: a scalar; axis 0 must index samples` });
      return undefined;
    } else {
      counts.push([name, tensor.dims[0]!]);
    }
    return tensor;
  };
  for (const [inputName, tensorName] of Object.entries(mapping.inputs)) {
    const info = model.inputs.find((i) => i.name === inputName);
    if (!info) {
      const known = model.inputs.map((i) => i.name).join(", ");
      issues.push({
        path: `inputs.${inputName}`,
        message: `the model has no input ${inputName}; its inputs: ${known}`,
      });
      continue;
    }
    const tensor = lookup(tensorName, `model input ${inputName}`);
    if (!tensor) continue;
    if (!shapeMatches(info.shape, tensor.dims)) {
      issues.push({
        path: tensorName,
        message: `shape ${shapeText(tensor.dims)} does not fit model input ${inputName} of shape ${shapeText(info.shape)}`,
      });
      continue;
    }
    const batch = info.shape[0];
    if (typeof batch === "number" && batch !== spec.batch_size) {
      issues.push({
        path: `inputs.${inputName}`,
        message: `model input ${inputName} has a fixed batch of ${batch} but batch_size is ${spec.batch_size}; export with a dynamic batch axis`,
      });
    }
    const prepared = sampleTensor(tensorName, tensor, info.dtype);
    if ("path" in prepared) {
      issues.push(prepared);
      continue;
    }
    const problem = nonFinite(prepared) ?? indexOutsideTable(model, inputName, prepared);
    if (problem) issues.push(problem);
    else inputs.set(inputName, prepared);
  }
  for (const info of model.inputs) {
    // Model input names are the uploader's: `in` would find "constructor" in any object.
    if (!Object.hasOwn(mapping.inputs, info.name)) {
      issues.push({
        path: `inputs.${info.name}`,
        message: `model input ${info.name} is fed by no dataset tensor`,
      });
    }
  }
  const targetTensor = lookup(mapping.target, "target");
  const target = targetTensor && prepareTarget(mapping.target, targetTensor, spec, output, issues);
  const samples = counts[0]?.[1] ?? 0;
  const uneven = counts.filter(([, n]) => n !== samples);
  if (uneven.length > 0) {
    issues.push({
      path: mapping.target,
      message: `the tensors disagree on the sample count (axis 0): ${counts.map(([t, n]) => `${t}: ${n}`).join(", ")}`,
    });
  }
  if (!target || inputs.size !== Object.keys(mapping.inputs).length || uneven.length > 0) return undefined;
  return { samples, inputs, target };
}

function prepareTarget(
  name: string,
  tensor: Tensor,
  spec: TrainingSpec,
  output: TensorInfo,
  issues: TrainIssue[],
): SampleTensor | undefined {
  const classification = spec.loss.type === "cross_entropy";
  // cross-entropy: logits [N, C, d...] against class indices [N, d...]; otherwise same shape as the output.
  const expected = classification ? [output.shape[0]!, ...output.shape.slice(2)] : output.shape;
  if (!shapeMatches(expected, tensor.dims)) {
    issues.push({
      path: name,
      message: `target shape ${shapeText(tensor.dims)} does not fit model output ${output.name} of shape ${shapeText(output.shape)} with ${spec.loss.type} (expected ${shapeText(expected)})`,
    });
    return undefined;
  }
  const prepared = sampleTensor(name, tensor, classification ? "int64" : output.dtype);
  if ("path" in prepared) {
    issues.push(prepared);
    return undefined;
  }
  const problem = nonFinite(prepared);
  if (problem) {
    issues.push(problem);
    return undefined;
  }
  const classes = output.shape[1];
  if (classification && typeof classes === "number") {
    const labels = prepared.data as BigInt64Array;
    const bad = labels.findIndex((v) => v < 0n || v >= BigInt(classes));
    if (bad >= 0) {
      issues.push({
        path: name,
        message: `sample ${bad} has class ${labels[bad]}, outside [0, ${classes - 1}] for output ${output.name}`,
      });
      return undefined;
    }
  }
  return prepared;
}

/** Where a position in a tensor's flat data is, as a user finds it: sample, then element. */
function position(tensor: SampleTensor, flat: number): string {
  const sample = Math.floor(flat / Math.max(1, tensor.sampleSize));
  return tensor.sampleSize > 1
    ? `sample ${sample} (element ${flat % tensor.sampleSize})`
    : `sample ${sample}`;
}

/** A NaN or infinity in the data would surface later as a diverged loss or a null validation loss. */
function nonFinite(tensor: SampleTensor): TrainIssue | undefined {
  if (!isFloat(tensor.dtype)) return undefined;
  const values = tensor.data as Float32Array | Float64Array;
  const flat = values.findIndex((v) => !Number.isFinite(v));
  if (flat < 0) return undefined;
  return {
    path: tensor.name,
    message: `${position(tensor, flat)} is ${values[flat]}; the data must be finite`,
  };
}

/**
 * An integer input that a Gather reads rows of a weight with (an embedding) must index inside the
 * weight: onnxruntime would fail mid-run past its end, and wrap a negative index silently where
 * PyTorch refuses both.
 */
function indexOutsideTable(model: LoadedModel, input: string, tensor: SampleTensor): TrainIssue | undefined {
  if (isFloat(tensor.dtype)) return undefined;
  for (const lookup of tableLookups(model, input)) {
    const values = tensor.data as ArrayLike<number | bigint>;
    for (let flat = 0; flat < values.length; flat++) {
      const index = Number(values[flat]);
      if (index < 0 || index >= lookup.rows) {
        return {
          path: tensor.name,
          message: `${position(tensor, flat)} is ${index}, outside [0, ${lookup.rows - 1}]: ${lookup.described}`,
        };
      }
    }
  }
  return undefined;
}

/** A Gather that reads rows of a weight with model input `input` (an embedding): the rows there are. */
export interface TableLookup {
  rows: number;
  /** "node /emb/Gather (Gather) looks it up in emb.weight, which has 16 rows" */
  described: string;
}

export function tableLookups(model: LoadedModel, input: string): TableLookup[] {
  return model.nodes.flatMap((node) => {
    const table =
      node.opType === "Gather" && node.inputs[1] === input && model.initializers.get(node.inputs[0]!);
    if (!table) return [];
    const rank = table.dims.length;
    const attribute = node.attrs.int("axis", 0);
    const axis = attribute < 0 ? attribute + rank : attribute;
    const rows = table.dims[axis]!;
    const size = axis === 0 ? `${rows} rows` : `${rows} entries on axis ${axis}`;
    return [
      { rows, described: `node ${node.name} (Gather) looks it up in ${node.inputs[0]}, which has ${size}` },
    ];
  });
}

function subset(split: PreparedSplit, indices: Uint32Array): PreparedSplit {
  const pick = (t: SampleTensor): SampleTensor => ({ ...t, data: gatherSamples(t, indices) });
  return {
    samples: indices.length,
    inputs: new Map([...split.inputs].map(([k, v]) => [k, pick(v)])),
    target: pick(split.target),
  };
}

/**
 * Copies the samples at `indices` (in that order) into one contiguous array: `into` when given
 * (an array of the tensor's type and exactly that length, overwritten whole), else a new one.
 */
export function gatherSamples(
  tensor: Pick<SampleTensor, "dtype" | "sampleSize" | "data">,
  indices: ArrayLike<number>,
  into?: TensorData,
): TensorData {
  const size = tensor.sampleSize;
  const out = into ?? allocate(tensor.dtype, indices.length * size);
  // Same element type on both sides: allocate() follows tensor.dtype.
  const source = tensor.data as Float32Array;
  const target = out as Float32Array;
  if (size <= ELEMENTWISE_GATHER) {
    for (let i = 0; i < indices.length; i++) {
      const from = indices[i]! * size;
      for (let j = 0; j < size; j++) target[i * size + j] = source[from + j]!;
    }
    return out;
  }
  for (let i = 0; i < indices.length; i++) {
    const from = indices[i]! * size;
    target.set(source.subarray(from, from + size), i * size);
  }
  return out;
}

// Up to this many elements a sample is copied element by element: a subarray view per sample
// costs more than the copy (a batch's 128 class labels took 8 µs that way, 1 µs by element; at
// 32 elements the views win).
const ELEMENTWISE_GATHER = 16;

/**
 * Checks and converts the training (and validation) tensors. A validation fraction is drawn
 * with `rng` (the run's generator, before any epoch shuffle): a permutation of all samples, the
 * last round(n * fraction) of which are held out, both parts kept in dataset order.
 */
export function prepareData(
  model: LoadedModel,
  dataset: Dataset,
  spec: TrainingSpec,
  rng: Xoshiro128,
): PreparedData {
  const issues: TrainIssue[] = [];
  const output = model.outputs.find((o) => o.name === spec.output);
  if (!output) {
    const known = model.outputs.map((o) => o.name).join(", ");
    throw new TrainError(
      "DATA_MODEL_MISMATCH",
      `the model has no output ${spec.output}; its outputs: ${known}`,
    );
  }
  const train = prepareSplit(model, dataset, spec, spec, output, issues);
  const validationSpec = spec.validation;
  const separate =
    validationSpec && "inputs" in validationSpec
      ? prepareSplit(model, dataset, spec, validationSpec, output, issues)
      : undefined;
  if (issues.length > 0 || !train) {
    throw new TrainError("DATA_MODEL_MISMATCH", "the dataset does not fit the model:", issues);
  }
  const classes =
    spec.loss.type === "cross_entropy" && typeof output.shape[1] === "number" ? output.shape[1] : undefined;
  if (validationSpec && "fraction" in validationSpec) {
    const held = Math.round(train.samples * validationSpec.fraction);
    if (held === 0 || held === train.samples) {
      throw new TrainError(
        "INVALID_SPEC",
        `validation.fraction ${validationSpec.fraction} of ${train.samples} samples leaves an empty split`,
      );
    }
    const order = rng.permutation(train.samples);
    const sorted = (a: Uint32Array) => a.slice().sort();
    return {
      train: subset(train, sorted(order.subarray(0, train.samples - held))),
      validation: subset(train, sorted(order.subarray(train.samples - held))),
      classes,
    };
  }
  return { train, validation: separate, classes };
}
