// prepare.ts's checks of the data's values (finite, class indices inside the model's classes, ids
// inside the embedding they look up), made from what upload inspection recorded of each tensor
// (ValueRange) instead of the values themselves: a quote refuses the data that training would, so
// no job is accepted only to fail on its worker.
import { isFloat } from "../../onnx/dtypes.ts";
import type { LoadedModel } from "../../onnx/model.ts";
import { TrainError, type TrainIssue } from "../errors.ts";
import type { TrainingSpec } from "../spec.ts";
import { csvColumnsFor } from "./csv.ts";
import { tableLookups } from "./prepare.ts";
import type { DatasetShapes, ValueRange } from "./shape-dataset.ts";

/** The recorded range of the tensor(s) a spec name selects; undefined when any was not recorded. */
function rangeOf(dataset: DatasetShapes, name: string): ValueRange | undefined {
  const tensors = dataset.tensors;
  let selected = tensors.filter((t) => t.name === name);
  if (dataset.format === "csv") {
    // Column lists and prefixes, resolved as training resolves them.
    const columns = tensors.map((t) => t.name);
    const picked = csvColumnsFor({ columns, index: new Map(columns.map((c, i) => [c, i])) }, name);
    selected = (picked ?? []).map((i) => tensors[i]!);
  }
  const ranges = selected.map((t) => t.range);
  if (ranges.length === 0 || ranges.some((r) => r === undefined)) return undefined;
  const known = ranges as ValueRange[];
  const finite = known.filter((r) => r.min !== null && r.max !== null);
  return {
    min: finite.length === 0 ? null : Math.min(...finite.map((r) => r.min!)),
    max: finite.length === 0 ? null : Math.max(...finite.map((r) => r.max!)),
    non_finite: known.reduce((sum, r) => sum + r.non_finite, 0),
  };
}

function outside(range: ValueRange, last: number): boolean {
  return range.min !== null && range.max !== null && (range.min < 0 || range.max > last);
}

/** Throws DATA_MODEL_MISMATCH listing every recorded range the model cannot take. */
export function checkValueRanges(model: LoadedModel, spec: TrainingSpec, dataset: DatasetShapes): void {
  const issues = new Map<string, TrainIssue>();
  const report = (path: string, message: string) => issues.set(`${path}\n${message}`, { path, message });
  const output = model.outputs.find((o) => o.name === spec.output);
  const classes = spec.loss.type === "cross_entropy" ? output?.shape[1] : undefined;
  const mappings = [spec, ...(spec.validation && "inputs" in spec.validation ? [spec.validation] : [])];
  for (const mapping of mappings) {
    const fed = Object.entries(mapping.inputs).map(([input, tensor]) => ({ input, tensor }));
    for (const { input, tensor } of [...fed, { input: undefined, tensor: mapping.target }]) {
      const range = rangeOf(dataset, tensor);
      if (!range) continue;
      if (range.non_finite > 0) {
        report(tensor, `holds ${range.non_finite} NaN or infinite values; the data must be finite`);
      }
      const info = input === undefined ? undefined : model.inputs.find((i) => i.name === input);
      if (info && !isFloat(info.dtype)) {
        for (const lookup of tableLookups(model, info.name)) {
          if (outside(range, lookup.rows - 1)) {
            report(
              tensor,
              `ids run from ${range.min} to ${range.max}, outside [0, ${lookup.rows - 1}]: ${lookup.described}`,
            );
          }
        }
      }
      if (input === undefined && typeof classes === "number" && outside(range, classes - 1)) {
        report(
          tensor,
          `classes run from ${range.min} to ${range.max}, outside [0, ${classes - 1}] for output ${spec.output}`,
        );
      }
    }
  }
  if (issues.size > 0) {
    throw new TrainError("DATA_MODEL_MISMATCH", "the dataset does not fit the model:", [...issues.values()]);
  }
}
