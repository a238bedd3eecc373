// A dataset: named tensors whose axis 0 indexes samples, read from safetensors, .npy, .npz or CSV.
import { extname } from "node:path";
import type { Tensor } from "../../onnx/dtypes.ts";
import { TrainError } from "../errors.ts";
import { type CsvTable, csvColumnsFor, csvShape, csvTensor, readCsv } from "./csv.ts";
import { DATA_LIMITS, type DataLimits } from "./limits.ts";
import { isNpy, readNpy } from "./npy.ts";
import { readNpz } from "./npz.ts";
import { readSafetensors } from "./safetensors.ts";

export type DatasetFormat = "safetensors" | "npy" | "npz" | "csv";

export interface Dataset {
  format: DatasetFormat;
  /** Names a spec may use; for CSV, the column names (column lists and prefix* also resolve). */
  names: string[];
  /** The dtype and shape of a name's tensor without building it (a CSV column is a copy). */
  describe(name: string): Pick<Tensor, "dtype" | "dims"> | undefined;
  /** The tensor for a name, or undefined when the dataset has none by that name. */
  tensor(name: string): Tensor | undefined;
}

const FORMATS_BY_EXTENSION: Record<string, DatasetFormat> = {
  ".safetensors": "safetensors",
  ".npy": "npy",
  ".npz": "npz",
  ".csv": "csv",
};

/** Picks the format from the file name, or from the first bytes when the name does not tell. */
export function detectFormat(bytes: Uint8Array, fileName: string): DatasetFormat {
  const extension = extname(fileName).toLowerCase();
  if (Object.hasOwn(FORMATS_BY_EXTENSION, extension)) return FORMATS_BY_EXTENSION[extension]!;
  if (isNpy(bytes)) return "npy";
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) return "npz";
  if (bytes.byteLength >= 9 && bytes[8] === 0x7b) return "safetensors";
  throw new TrainError(
    "UNSUPPORTED_DATA_FORMAT",
    `${fileName}: unknown dataset format; accepted: ${Object.keys(FORMATS_BY_EXTENSION).join(", ")}`,
  );
}

function fromMap(format: DatasetFormat, tensors: Map<string, Tensor>): Dataset {
  return {
    format,
    names: [...tensors.keys()],
    describe: (name) => tensors.get(name),
    tensor: (name) => tensors.get(name),
  };
}

function fromCsv(table: CsvTable): Dataset {
  const isSingle = (name: string) => !name.includes(",") && !name.endsWith("*");
  return {
    format: "csv",
    names: table.columns,
    describe: (name) => {
      const columns = csvColumnsFor(table, name);
      return columns && { dtype: "float64", dims: csvShape(table, columns, isSingle(name)) };
    },
    tensor: (name) => {
      const columns = csvColumnsFor(table, name);
      return columns && csvTensor(table, columns, isSingle(name));
    },
  };
}

export function readDataset(bytes: Uint8Array, fileName: string, limits: DataLimits = DATA_LIMITS): Dataset {
  const format = detectFormat(bytes, fileName);
  switch (format) {
    case "safetensors":
      return fromMap(format, readSafetensors(bytes, limits));
    case "npz":
      return fromMap(format, readNpz(bytes, limits));
    // A bare .npy holds one array; the spec refers to it by the name "data".
    case "npy":
      return fromMap(format, new Map([["data", readNpy(bytes, "npy", limits)]]));
    case "csv":
      return fromCsv(readCsv(bytes, limits));
  }
}
