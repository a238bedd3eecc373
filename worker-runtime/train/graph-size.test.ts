// The task's graph_nodes computed without onnxruntime equals the node count of the graph a run
// compiles and the pinpoint game traces, and the module loads no onnxruntime.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { readDataset } from "./data/dataset.ts";
import type { DatasetShapes } from "./data/shape-dataset.ts";
import { loadFixture, loadZooFixture } from "./fixtures.ts";
import { trainingGraphNodes } from "./graph-size.ts";
import { stepGraphOf } from "./pinpoint.ts";
import { graphNodes } from "./pinpoint-graphs.ts";

function shapesOf(dataset: { bytes: Uint8Array; fileName: string }): DatasetShapes {
  const read = readDataset(dataset.bytes, dataset.fileName);
  return {
    format: read.format,
    tensors: read.names.map((name) => {
      const shape = read.describe(name)!;
      return { name, dtype: shape.dtype, shape: shape.dims };
    }),
  };
}

describe("trainingGraphNodes", () => {
  const cases = [loadFixture("mlp"), loadFixture("cnn"), loadZooFixture("transformer_rows")];
  for (const fixture of cases) {
    it(`${fixture.name}: is the node count of the step graph training compiles`, async () => {
      const counted = trainingGraphNodes(fixture.model, fixture.spec, shapesOf(fixture.dataset));
      const compiled = graphNodes(await stepGraphOf(fixture, 1)).length;
      assert.equal(counted, compiled);
      assert.ok(counted > 10);
    });
  }

  it("loads no onnxruntime, so the API can call it", () => {
    const module = fileURLToPath(new URL("./graph-size.ts", import.meta.url));
    const script = `await import(${JSON.stringify(module)}); const { createRequire } = await import("node:module"); const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes("onnxruntime")); console.log(JSON.stringify(loaded));`;
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    assert.deepEqual(JSON.parse(out.trim().split("\n").at(-1)!), []);
  });
});
