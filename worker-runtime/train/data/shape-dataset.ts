// A dataset known only by its tensors' shapes (what upload inspection records), as a one-sample
// dataset the trainer's data preparation accepts, and the sample counts the real data would split
// into: enough to build every graph of a run without the data. Nothing here imports onnxruntime.
import { allocate } from "../../onnx/dtypes.ts";
import { type DType, elementCount } from "../../onnx/index.ts";
import { TrainError } from "../errors.ts";
import type { TrainingSpec } from "../spec.ts";
import { type Dataset, type DatasetFormat, readDataset } from "./dataset.ts";

/** A dataset tensor as upload inspection describes it (api/services/inspection/dataset.ts). */
export interface TensorShape {
  name: string;
  dtype: string;
  shape: number[];
  /** Its values in brief, for the checks that need more than shapes (absent: not recorded). */
  range?: ValueRange;
}

/** The smallest and largest finite values (null when there are none) and how many are not finite. */
export interface ValueRange {
  min: number | null;
  max: number | null;
  non_finite: number;
}

export function valueRange(data: ArrayLike<number | bigint>): ValueRange {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let nonFinite = 0;
  for (let i = 0; i < data.length; i++) {
    const value = Number(data[i]);
    if (!Number.isFinite(value)) nonFinite += 1;
    else {
      if (value < min) min = value;
      if (value > max) max = value;
    }
  }
  return min > max ? { min: null, max: null, non_finite: nonFinite } : { min, max, non_finite: nonFinite };
}

export interface DatasetShapes {
  /** CSV datasets resolve spec names as column lists ("a,b") and prefixes ("px*"); others by name. */
  format?: DatasetFormat;
  tensors: readonly TensorShape[];
}

/** The dataset with one zero sample per tensor: enough for every shape and dtype check. */
export function oneSampleDataset(shapes: DatasetShapes): Dataset {
  if (shapes.format === "csv") {
    const columns = shapes.tensors.map((t) => t.name);
    const text = `${columns.join(",")}\n${columns.map(() => "0").join(",")}\n`;
    return readDataset(new TextEncoder().encode(text), "probe.csv");
  }
  const byName = new Map(shapes.tensors.map((t) => [t.name, t]));
  const describe = (name: string) => {
    const t = byName.get(name);
    if (!t) return undefined;
    const dims = t.shape.length === 0 ? [] : [Math.min(1, t.shape[0]!), ...t.shape.slice(1)];
    return { dtype: t.dtype as DType, dims };
  };
  return {
    format: shapes.format ?? "safetensors",
    names: [...byName.keys()],
    describe,
    tensor: (name) => {
      const shape = describe(name);
      return shape && { ...shape, data: allocate(shape.dtype, elementCount(shape.dims)) };
    },
  };
}

/** Training and validation sample counts, as prepareData would split the real data. */
export function sampleCounts(spec: TrainingSpec, shapes: DatasetShapes) {
  const byName = new Map(shapes.tensors.map((t) => [t.name, t]));
  // CSV columns share their rows, whatever column list or prefix the spec names.
  const rows = (name: string) => (byName.get(name) ?? shapes.tensors[0])?.shape[0] ?? 0;
  const samples = rows(spec.target);
  const validation = spec.validation;
  if (!validation) return { train: samples, validation: undefined };
  if ("target" in validation) return { train: samples, validation: rows(validation.target) };
  const held = Math.round(samples * validation.fraction);
  if (held === 0 || held === samples) {
    throw new TrainError(
      "INVALID_SPEC",
      `validation.fraction ${validation.fraction} of ${samples} samples leaves an empty split`,
    );
  }
  return { train: samples - held, validation: held };
}
