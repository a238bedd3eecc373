// Reads an uploaded dataset with the training engine's own readers, so a dataset accepted here
// is one the workers can train on, and describes its tensors for the API and the job planner.
import { extname } from "node:path";
import { type DatasetFormat, readDataset } from "../../../worker-runtime/train/data/dataset.ts";
import { DATA_LIMITS, type DataLimits } from "../../../worker-runtime/train/data/limits.ts";
import { isNpy } from "../../../worker-runtime/train/data/npy.ts";
import { type ValueRange, valueRange } from "../../../worker-runtime/train/data/shape-dataset.ts";
import { TrainError } from "../../../worker-runtime/train/errors.ts";
import { FileRejectedError } from "./rejection.ts";

export interface TensorSummary {
  name: string;
  dtype: string;
  shape: number[];
  /** What a quote checks the values by (worker-runtime/train/data/range-checks.ts). */
  range: ValueRange;
}

export interface DatasetDetails {
  format: DatasetFormat;
  tensors: TensorSummary[];
  /** The length of axis 0 when every tensor shares it; null when they differ (e.g. train/val splits). */
  sample_count: number | null;
}

const FORMAT_BY_EXTENSION: Record<string, DatasetFormat> = {
  ".safetensors": "safetensors",
  ".npy": "npy",
  ".npz": "npz",
  ".csv": "csv",
};
const ACCEPTED = "safetensors, NumPy .npy, NumPy .npz, CSV with a header row";

function isZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 0x03 || bytes[2] === 0x05);
}

/** A little-endian u64 header length that fits the file, followed by a JSON object. */
function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 10) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = view.getBigUint64(0, true);
  return headerSize >= 2n && 8n + headerSize <= BigInt(bytes.byteLength) && bytes[8] === 0x7b;
}

function isText(bytes: Uint8Array): boolean {
  return !bytes.subarray(0, 64 * 1024).includes(0);
}

/**
 * The content decides (magic bytes); the extension only chooses the reader when the content
 * matches no binary format, so a damaged .npz is reported by the zip reader with its reason.
 */
export function detectDatasetFormat(bytes: Uint8Array, filename: string): DatasetFormat {
  if (isNpy(bytes)) return "npy";
  if (isZip(bytes)) return "npz";
  if (isSafetensors(bytes)) return "safetensors";
  const extension = extname(filename).toLowerCase();
  if (Object.hasOwn(FORMAT_BY_EXTENSION, extension)) return FORMAT_BY_EXTENSION[extension]!;
  if (bytes.byteLength > 0 && isText(bytes)) return "csv";
  throw new FileRejectedError(
    "invalid_dataset",
    `The dataset '${filename}' is in no recognized format; accepted: ${ACCEPTED}`,
  );
}

/** Damaged binary content makes readers index past the end (RangeError) or fail to inflate (zlib). */
function isDamagedContentError(error: unknown): error is Error {
  if (error instanceof RangeError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === "string" && code.startsWith("Z_");
}

export function inspectDataset(
  bytes: Uint8Array,
  filename: string,
  limits: DataLimits = DATA_LIMITS,
): DatasetDetails {
  const format = detectDatasetFormat(bytes, filename);
  let tensors: TensorSummary[];
  try {
    // The engine picks its reader by extension: name the content by the format it was found to be.
    const dataset = readDataset(bytes, `upload.${format}`, limits);
    tensors = dataset.names.map((name) => {
      const tensor = dataset.tensor(name)!;
      const values = tensor.data as ArrayLike<number | bigint>;
      return { name, dtype: tensor.dtype, shape: tensor.dims, range: valueRange(values) };
    });
  } catch (error) {
    if (error instanceof TrainError) {
      const problem = error.code === "LIMIT_EXCEEDED" ? "is larger than accepted" : `is not valid ${format}`;
      throw new FileRejectedError("invalid_dataset", `The dataset ${problem}: ${error.message}`);
    }
    if (isDamagedContentError(error)) {
      throw new FileRejectedError(
        "invalid_dataset",
        `The dataset is not valid ${format}: the file is truncated or damaged (${error.message})`,
      );
    }
    throw error;
  }
  return { format, tensors, sample_count: sampleCount(tensors) };
}

function sampleCount(tensors: TensorSummary[]): number | null {
  if (tensors.length === 0) {
    throw new FileRejectedError("invalid_dataset", "The dataset holds no tensors; at least one is required");
  }
  const scalar = tensors.find((t) => t.shape.length === 0);
  if (scalar) {
    throw new FileRejectedError(
      "invalid_dataset",
      `Dataset tensor '${scalar.name}' is a scalar; every tensor needs a sample axis (axis 0)`,
    );
  }
  const empty = tensors.find((t) => t.shape[0] === 0);
  if (empty) {
    throw new FileRejectedError(
      "invalid_dataset",
      `Dataset tensor '${empty.name}' holds no samples (axis 0 is empty)`,
    );
  }
  const counts = new Set(tensors.map((t) => t.shape[0]!));
  return counts.size === 1 ? [...counts][0]! : null;
}
