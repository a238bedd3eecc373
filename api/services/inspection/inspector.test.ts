import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { INSPECTOR_LIMITS, InspectionError, Inspector } from "./inspector.ts";
import { FileRejectedError } from "./rejection.ts";

const fixtures = fileURLToPath(new URL("../../../worker-runtime/fixtures/", import.meta.url));
let dir: string;
const inspector = new Inspector();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "veritrain-inspector-"));
});
after(async () => {
  await inspector.close();
  await rm(dir, { recursive: true, force: true });
});

test("a valid model and dataset are described by the worker thread", async () => {
  const model = await inspector.inspect({
    purpose: "model",
    path: join(fixtures, "mlp.onnx"),
    filename: "mlp.onnx",
  });
  assert.ok("opset" in model);
  assert.equal(model.parameter_count, 17226);
  const dataset = await inspector.inspect({
    purpose: "dataset",
    path: join(fixtures, "data/sample.npy"),
    filename: "sample.npy",
  });
  assert.deepEqual(dataset, {
    format: "npy",
    tensors: [
      { name: "data", dtype: "float64", shape: [3, 4], range: { min: 0, max: 1.375, non_finite: 0 } },
    ],
    sample_count: 3,
  });
});

test("a rejection crosses the thread boundary as a FileRejectedError with its details", async () => {
  const path = join(dir, "not-a-model.onnx");
  await writeFile(path, Buffer.from([1, 2, 3, 4, 5]));
  await assert.rejects(
    inspector.inspect({ purpose: "model", path, filename: "not-a-model.onnx" }),
    (error) => {
      assert.ok(error instanceof FileRejectedError);
      assert.equal(error.code, "invalid_model");
      assert.equal(error.param, "file");
      return true;
    },
  );
});

test("concurrent inspections each get their own answer", async () => {
  const csv = (rows: number) => `a,b\n${Array.from({ length: rows }, (_, i) => `${i},${i}`).join("\n")}\n`;
  const paths = await Promise.all(
    [3, 5, 7].map(async (rows) => {
      const path = join(dir, `rows-${rows}.csv`);
      await writeFile(path, csv(rows));
      return path;
    }),
  );
  const counts = await Promise.all(
    paths.map(async (path) => {
      const details = await inspector.inspect({ purpose: "dataset", path, filename: "rows.csv" });
      return "sample_count" in details ? details.sample_count : undefined;
    }),
  );
  assert.deepEqual(counts, [3, 5, 7]);
});

/** Inspects the .npy fixture: the inspector answers again after whatever came before. */
async function assertServes(serving: Inspector) {
  const details = await serving.inspect({
    purpose: "dataset",
    path: join(fixtures, "data/sample.npy"),
    filename: "sample.npy",
  });
  assert.equal("sample_count" in details && details.sample_count, 3);
}

test("a failure on our side is an InspectionError, and the worker keeps serving", async () => {
  await assert.rejects(
    inspector.inspect({ purpose: "dataset", path: join(dir, "missing.csv"), filename: "missing.csv" }),
    (error) =>
      error instanceof InspectionError && error.code === "INSPECTION_FAILED" && /ENOENT/.test(error.message),
  );
  await assertServes(inspector);
});

test("after close, the next inspection starts a fresh worker", async () => {
  await inspector.close();
  const details = await inspector.inspect({
    purpose: "dataset",
    path: join(fixtures, "data/sample.npy"),
    filename: "sample.npy",
  });
  assert.equal("format" in details && details.format, "npy");
});

/** Expects the 422 a limit of the inspector answers, then a valid file inspected by a fresh worker. */
async function refusedThenServed(limited: Inspector, path: string, reason: RegExp) {
  await assert.rejects(limited.inspect({ purpose: "dataset", path, filename: "rows.csv" }), (error) => {
    assert.ok(error instanceof FileRejectedError);
    assert.equal(error.code, "inspection_limit_exceeded");
    assert.match(error.message, reason);
    return true;
  });
  await assertServes(limited);
}

test("an inspection past the time limit is refused and its worker replaced", async () => {
  const path = join(dir, "long.csv");
  await writeFile(path, `a,b,c,d\n${"1.5,2.5,3.5,4.5\n".repeat(400_000)}`);
  const limited = new Inspector({ ...INSPECTOR_LIMITS, timeoutMs: 150 });
  try {
    await refusedThenServed(limited, path, /'rows\.csv' took longer than the 0\.15 s one file may take/);
  } finally {
    await limited.close();
  }
});

test("an inspection past the heap limit is refused and its worker replaced", async () => {
  const path = join(dir, "tall.csv");
  await writeFile(path, `a\n${"1\n".repeat(5_000_000)}`);
  const limited = new Inspector({ ...INSPECTOR_LIMITS, maxOldGenerationSizeMb: 64 });
  try {
    await refusedThenServed(
      limited,
      path,
      /'rows\.csv' needed more than the 64 MB of memory one file may use/,
    );
  } finally {
    await limited.close();
  }
});
