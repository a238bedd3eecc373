// CSV with a header row and numeric columns. Every column is a float64 tensor of shape [rows];
// a dataset tensor name may also select several columns, giving [rows, k] in the order named:
//   "a,b,c"   those columns           "pixel*"   every column whose name starts with "pixel"
import type { Tensor } from "../../onnx/dtypes.ts";
import { TrainError } from "../errors.ts";

export interface CsvTable {
  columns: string[];
  /** Row-major values, rows x columns. */
  values: Float64Array;
  rows: number;
}

function splitLine(line: string): string[] {
  return line.split(",").map((cell) => cell.trim().replace(/^"(.*)"$/, "$1"));
}

export function readCsv(bytes: Uint8Array): CsvTable {
  const lines = new TextDecoder()
    .decode(bytes)
    .replace(/^\uFEFF/, "")
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "");
  const [headerLine, ...rowLines] = lines;
  if (headerLine === undefined)
    throw new TrainError("INVALID_DATA", "csv: the file is empty; a header row is required");
  const columns = splitLine(headerLine);
  const duplicate = columns.find((c, i) => columns.indexOf(c) !== i);
  if (duplicate !== undefined)
    throw new TrainError("INVALID_DATA", `csv: column "${duplicate}" appears twice in the header`);
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
  return { columns, values, rows: rowLines.length };
}

/** The columns a dataset tensor name selects, or undefined when it selects none. */
export function csvColumnsFor(table: CsvTable, name: string): number[] | undefined {
  const names = name.includes(",") ? name.split(",").map((n) => n.trim()) : [name];
  if (names.length === 1 && name.endsWith("*")) {
    const prefix = name.slice(0, -1);
    const matched = table.columns.flatMap((c, i) => (c.startsWith(prefix) ? [i] : []));
    return matched.length > 0 ? matched : undefined;
  }
  const indices = names.map((n) => table.columns.indexOf(n));
  return indices.every((i) => i >= 0) ? indices : undefined;
}

export function csvTensor(table: CsvTable, selected: number[], single: boolean): Tensor {
  const width = table.columns.length;
  const data = new Float64Array(table.rows * selected.length);
  for (let row = 0; row < table.rows; row++) {
    selected.forEach((col, k) => {
      data[row * selected.length + k] = table.values[row * width + col]!;
    });
  }
  return { dtype: "float64", dims: single ? [table.rows] : [table.rows, selected.length], data };
}
