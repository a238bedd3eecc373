// One entry point for inspecting an upload by purpose, shared by the worker thread that runs it.
import { readFileSync } from "node:fs";
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

export function inspectFile({ purpose, path, filename }: InspectionRequest): FileDetails {
  // A Buffer is a Uint8Array already; wrapping it in a new one would copy the whole file.
  const bytes: Uint8Array = readFileSync(path);
  return purpose === "model" ? inspectModel(bytes) : inspectDataset(bytes, filename);
}
