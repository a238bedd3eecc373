// One entry point for inspecting an upload by purpose, shared by the worker thread that runs it.
import { readFileSync } from "node:fs";
import type { ModelLimits } from "../../../worker-runtime/onnx/index.ts";
import type { DataLimits } from "../../../worker-runtime/train/data/limits.ts";
import type { FilePurpose } from "../../schemas/files.ts";
import { type DatasetDetails, inspectDataset } from "./dataset.ts";
import { inspectModel, type ModelDetails } from "./model.ts";

export type FileDetails = ModelDetails | DatasetDetails;

export interface InspectionRequest {
  purpose: FilePurpose;
  /** A local file holding the content. */
  path: string;
  /** As uploaded: a hint for the dataset format. */
  filename: string;
}

/** What the content of one upload may declare and make the readers allocate. */
export interface ContentLimits {
  data: DataLimits;
  model: ModelLimits;
}

export function inspectFile(
  { purpose, path, filename }: InspectionRequest,
  limits: ContentLimits,
): FileDetails {
  // A Buffer is a Uint8Array already; wrapping it in a new one would copy the whole file.
  const bytes: Uint8Array = readFileSync(path);
  return purpose === "model"
    ? inspectModel(bytes, limits.model)
    : inspectDataset(bytes, filename, limits.data);
}
