// CSV with a header row and numeric columns. Every column is a float64 tensor of shape [rows];
// a dataset tensor name may also select several columns, giving [rows, k] in the order named:
//   "a,b,c"   those columns           "pixel*"   every column whose name starts with "pixel"
import type { Tensor } from "../../onnx/dtypes.ts";
import { TrainError } from "../errors.ts";
import { DATA_LIMITS, type DataLimits, limitExceeded } from "./limits.ts";

export interface CsvTable {
  columns: string[];
  /** Column index by name: a lookup per name, never a scan of the header. */
  index: Map<string, number>;
  /** Row-major values, rows x columns. */
  values: Float64Array;
  rows: number;
}

function splitLine(line: string): string[] {
  return line.split(",").map((cell) => cell.trim().replace(/^"(.*)"$/, "$1"));
}

export function readCsv(bytes: Uint8Array, limits: DataLimits = DATA_LIMITS): CsvTable {
  const lines = new TextDecoder()
    .decode(bytes)
    .replace(/^\uFEFF/, "")
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "");
  const [headerLine, ...rowLines] = lines;
  if (headerLine === undefined)
    throw new TrainError("INVALID_DATA", "csv: the file is empty; a header row is required");
  const columns = splitLine(headerLine);
  if (columns.length > limits.maxColumns) {
    throw limitExceeded("csv", `the header has ${columns.length} columns`, limits.maxColumns, "columns");
  }
  const index = new Map<string, number>();
  for (const [i, column] of columns.entries()) {
    if (index.has(column))
      throw new TrainError("INVALID_DATA", `csv: column "${column}" appears twice in the header`);
    index.set(column, i);
  }
  const valueBytes = rowLines.length * columns.length * Float64Array.BYTES_PER_ELEMENT;
  if (valueBytes > limits.maxTensorBytes) {
    const found = `${rowLines.length} rows of ${columns.length} columns take ${valueBytes} bytes as float64`;
    throw limitExceeded("csv", found, limits.maxTensorBytes, "bytes");
  }
  const values = new Float64Array(rowLines.length * columns.length);
  rowLines.forEach((line, row) => {
    const cells = splitLine(line);
    if (cells.length !== columns.length) {
      throw new TrainError(
        "INVALID_DATA",
        `csv line ${row + 2}: ${cells.length} fields, the header has ${columns.length}`,
      );
    }
    cells.forEach((cell, col) => {
      const value = cell === "" ? Number.NaN : Number(cell);
      if (!Number.isFinite(value)) {
        throw new TrainError(
          "INVALID_DATA",
          `csv line ${row + 2}, column "${columns[col]}": "${cell}" is not a finite number; accepted: numeric values only`,
        );
      }
      values[row * columns.length + col] = value;
    });
  });
  return { columns, index, values, rows: rowLines.length };
}

/** The columns a dataset tensor name selects, or undefined when it selects none. */
export function csvColumnsFor(
  table: Pick<CsvTable, "columns" | "index">,
  name: string,
): number[] | undefined {
  const names = name.includes(",") ? name.split(",").map((n) => n.trim()) : [name];
  if (names.length === 1 && name.endsWith("*")) {
    const prefix = name.slice(0, -1);
    const matched = table.columns.flatMap((c, i) => (c.startsWith(prefix) ? [i] : []));
    return matched.length > 0 ? matched : undefined;
  }
  const indices = names.map((n) => table.index.get(n));
  return indices.every((i) => i !== undefined) ? indices : undefined;
}

/** A single column is a vector; a list or prefix selection is a matrix, even of one column. */
export function csvShape(table: CsvTable, selected: readonly number[], single: boolean): number[] {
  return single ? [table.rows] : [table.rows, selected.length];
}

export function csvTensor(table: CsvTable, selected: number[], single: boolean): Tensor {
  const width = table.columns.length;
  const data = new Float64Array(table.rows * selected.length);
  for (let row = 0; row < table.rows; row++) {
    selected.forEach((col, k) => {
      data[row * selected.length + k] = table.values[row * width + col]!;
    });
  }
  return { dtype: "float64", dims: csvShape(table, selected, single), data };
}
