import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { TrainError } from "../errors.ts";
import { readDataset } from "./dataset.ts";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/data/${name}`, import.meta.url));
const numbers = (data: ArrayLike<number | bigint>) => Array.from(data, Number);

function rejects(fn: () => unknown, code: TrainError["code"], pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof TrainError && e.code === code && pattern.test(e.message));
}

describe("safetensors", () => {
  it("reads the digits fixture written by the Python script", () => {
    const data = readDataset(fixture("digits.safetensors"), "digits.safetensors");
    assert.deepEqual([...data.names].sort(), ["x_train", "x_val", "y_train", "y_val"]);
    const x = data.tensor("x_train")!;
    assert.equal(x.dtype, "float32");
    assert.deepEqual(x.dims, [1440, 64]);
    const y = data.tensor("y_train")!;
    assert.equal(y.dtype, "int64");
    assert.deepEqual(numbers(y.data.subarray(0, 5)), [0, 1, 2, 3, 4]);
    assert.ok(numbers(x.data).every((v) => v >= 0 && v <= 1));
  });

  it("refuses an unsupported dtype and a truncated body", () => {
    const header = JSON.stringify({ h: { dtype: "F16", shape: [2], data_offsets: [0, 4] } });
    const file = (json: string, body: number) => {
      const bytes = new Uint8Array(8 + json.length + body);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
      bytes.set(new TextEncoder().encode(json), 8);
      return bytes;
    };
    rejects(
      () => readDataset(file(header, 4), "h.safetensors"),
      "UNSUPPORTED_DATA_FORMAT",
      /F16 is not supported/,
    );
    const truncated = JSON.stringify({ h: { dtype: "F32", shape: [2], data_offsets: [0, 8] } });
    rejects(
      () => readDataset(file(truncated, 4), "h.safetensors"),
      "INVALID_DATA",
      /invalid shape or data_offsets/,
    );
  });
});

describe("npy and npz", () => {
  it("reads a float64 .npy as the tensor 'data'", () => {
    const data = readDataset(fixture("sample.npy"), "sample.npy");
    const t = data.tensor("data")!;
    assert.equal(t.dtype, "float64");
    assert.deepEqual(t.dims, [3, 4]);
    assert.deepEqual(
      numbers(t.data),
      Array.from({ length: 12 }, (_, i) => i / 8),
    );
  });

  it("reads a stored .npz with several dtypes", () => {
    const data = readDataset(fixture("sample_arrays.npz"), "sample_arrays.npz");
    assert.deepEqual(numbers(data.tensor("ints")!.data), [3, -1, 7]);
    assert.equal(data.tensor("small")!.dtype, "int32");
    assert.deepEqual(numbers(data.tensor("small")!.data), [1, 2, 3, 4]);
    assert.equal(data.tensor("flags")!.dtype, "bool");
    assert.deepEqual(numbers(data.tensor("flags")!.data), [1, 0, 1]);
    const floats = data.tensor("floats")!;
    assert.deepEqual(floats.dims, [2, 3]);
    assert.deepEqual(numbers(floats.data), [-1, -0.6, -0.2, 0.2, 0.6, 1].map(Math.fround));
  });

  it("reads a deflated .npz (np.savez_compressed)", () => {
    const data = readDataset(fixture("digits_images.npz"), "digits_images.npz");
    assert.deepEqual(data.tensor("x_train")!.dims, [1440, 1, 8, 8]);
    assert.deepEqual(data.tensor("y_val")!.dims, [357]);
    const flat = readDataset(fixture("digits.safetensors"), "digits.safetensors").tensor("x_train")!;
    assert.deepEqual(data.tensor("x_train")!.data, flat.data);
  });

  it("refuses a Fortran-order array and a big-endian dtype", () => {
    const npy = (header: string) => {
      const text = `${header.padEnd(117, " ")}\n`;
      return Uint8Array.from([
        0x93,
        0x4e,
        0x55,
        0x4d,
        0x50,
        0x59,
        1,
        0,
        text.length,
        0,
        ...new TextEncoder().encode(text),
      ]);
    };
    rejects(
      () => readDataset(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (0,), }"), "a.npy"),
      "UNSUPPORTED_DATA_FORMAT",
      /Fortran-order/,
    );
    rejects(
      () => readDataset(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (0,), }"), "a.npy"),
      "UNSUPPORTED_DATA_FORMAT",
      /'>f4' is not supported/,
    );
  });
});

describe("csv", () => {
  const csv = new TextEncoder().encode("px0,px1,px2,label\n0.5,1,2,3\n\n4,5,6,1\n");
  it("maps a column to [rows] and a column set to [rows, k]", () => {
    const data = readDataset(csv, "d.csv");
    assert.deepEqual(data.names, ["px0", "px1", "px2", "label"]);
    assert.deepEqual(data.tensor("label")!.dims, [2]);
    assert.deepEqual(numbers(data.tensor("label")!.data), [3, 1]);
    const prefix = data.tensor("px*")!;
    assert.deepEqual(prefix.dims, [2, 3]);
    assert.deepEqual(numbers(prefix.data), [0.5, 1, 2, 4, 5, 6]);
    assert.deepEqual(numbers(data.tensor("px2,px0")!.data), [2, 0.5, 6, 4]);
    assert.equal(data.tensor("nope"), undefined);
  });
  it("reports a non-numeric cell with its line and column", () => {
    rejects(
      () => readDataset(new TextEncoder().encode("a,b\n1,x\n"), "d.csv"),
      "INVALID_DATA",
      /csv line 2, column "b": "x" is not a finite number/,
    );
    rejects(
      () => readDataset(new TextEncoder().encode("a,b\n1\n"), "d.csv"),
      "INVALID_DATA",
      /1 fields, the header has 2/,
    );
  });
});

it("refuses an unknown format by name", () => {
  rejects(
    () => readDataset(new TextEncoder().encode("hello"), "d.txt"),
    "UNSUPPORTED_DATA_FORMAT",
    /accepted: .safetensors/,
  );
});
