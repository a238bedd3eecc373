import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { writeSafetensors } from "../../../protocol/safetensors-writer.ts";
import { detectDatasetFormat, inspectDataset } from "./dataset.ts";
import { FileRejectedError } from "./rejection.ts";

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../../worker-runtime/fixtures/data/${name}`, import.meta.url)));
const text = (value: string) => new TextEncoder().encode(value);

function rejected(reason: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof FileRejectedError);
    assert.equal(error.code, "invalid_dataset");
    assert.equal(error.param, "file");
    assert.match(error.message, reason);
    return true;
  };
}

test("the format comes from the content, whatever the file is called", () => {
  assert.equal(detectDatasetFormat(fixture("sample.npy"), "data.csv"), "npy");
  assert.equal(detectDatasetFormat(fixture("sample_arrays.npz"), "data"), "npz");
  assert.equal(detectDatasetFormat(fixture("digits.safetensors"), "digits.bin"), "safetensors");
  assert.equal(detectDatasetFormat(text("x,y\n1,2\n"), "table"), "csv");
});

test("the extension picks the reader when no magic bytes match, so its reason is reported", () => {
  assert.equal(detectDatasetFormat(text("garbage"), "broken.safetensors"), "safetensors");
  assert.throws(
    () => inspectDataset(text("garbage"), "broken.safetensors"),
    rejected(/not valid safetensors/),
  );
});

test("tensors, dtypes, shapes and the shared sample count are described", () => {
  const npy = inspectDataset(fixture("sample.npy"), "sample.npy");
  assert.deepEqual(npy, {
    format: "npy",
    tensors: [
      { name: "data", dtype: "float64", shape: [3, 4], range: { min: 0, max: 1.375, non_finite: 0 } },
    ],
    sample_count: 3,
  });
  const csv = inspectDataset(text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n"), "rows.csv");
  assert.equal(csv.sample_count, 3);
  assert.deepEqual(
    csv.tensors.map((t) => t.name),
    ["a", "b", "label"],
  );
});

test("splits of different lengths have no single sample count", () => {
  const details = inspectDataset(fixture("digits.safetensors"), "digits.safetensors");
  assert.equal(details.sample_count, null);
  assert.deepEqual(
    details.tensors.find((t) => t.name === "x_train"),
    {
      name: "x_train",
      dtype: "float32",
      shape: [1440, 64],
      range: { min: 0, max: 1, non_finite: 0 },
    },
  );
});

test("each tensor's finite range and its count of NaN and infinite values are recorded", () => {
  const values = new Float32Array([3, Number.NaN, -2, Number.POSITIVE_INFINITY, 0.5, Number.NaN]);
  const ids = BigInt64Array.from([4n, 0n, 17n]);
  const bytes = writeSafetensors([
    { name: "x", dtype: "F32", shape: [3, 2], data: new Uint8Array(values.buffer) },
    { name: "ids", dtype: "I64", shape: [3], data: new Uint8Array(ids.buffer) },
    { name: "blank", dtype: "F32", shape: [1], data: new Uint8Array(new Float32Array([Number.NaN]).buffer) },
  ]);
  const ranges = Object.fromEntries(
    inspectDataset(bytes, "d.safetensors").tensors.map((t) => [t.name, t.range]),
  );
  assert.deepEqual(ranges, {
    x: { min: -2, max: 3, non_finite: 3 },
    ids: { min: 0, max: 17, non_finite: 0 },
    blank: { min: null, max: null, non_finite: 1 },
  });
});

test("malformed content is rejected with the reader's reason", () => {
  const safetensors = fixture("digits.safetensors");
  assert.throws(() => inspectDataset(safetensors.subarray(0, 1000), "d.safetensors"), rejected(/x_train/));
  const npz = fixture("sample_arrays.npz");
  assert.throws(
    () => inspectDataset(npz.subarray(0, npz.byteLength - 30), "d.npz"),
    rejected(/not valid npz/),
  );
  assert.throws(() => inspectDataset(text("a,b\n1,x\n"), "d.csv"), rejected(/line 2, column "b"/));
  assert.throws(
    () => inspectDataset(new Uint8Array([1, 0, 2, 0]), "d.bin"),
    rejected(/no recognized format/),
  );
  assert.throws(() => inspectDataset(new Uint8Array(), "empty"), rejected(/no recognized format/));
  assert.throws(() => inspectDataset(text("a,b\n"), "header-only.csv"), rejected(/'a' holds no samples/));
});
