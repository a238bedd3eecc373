// The task's graph_nodes equals the node count of the optimised graph a run compiles and the
// pinpoint game traces, with one thread and with two (whose graph pads bias-gradient sums).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
    for (const threads of [1, 2]) {
      it(`${fixture.name}, ${threads} thread(s): is the node count of the step graph training compiles`, async () => {
        const counted = await trainingGraphNodes(
          fixture.model,
          fixture.spec,
          shapesOf(fixture.dataset),
          threads,
        );
        const compiled = graphNodes(await stepGraphOf({ ...fixture, threads }, 1)).length;
        assert.equal(counted, compiled);
        assert.ok(counted > 10);
      });
    }
  }
});
