// The task's graph_nodes equals the position count of the optimised graph a run compiles and the
// pinpoint game traces, with one thread and with two (whose graph pads bias-gradient sums: the
// compute-bound MLP's): the same count, which the quote takes before the thread count is known.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { computeBound } from "../../bench/compute-bound.ts";
import { readDataset } from "./data/dataset.ts";
import type { DatasetShapes } from "./data/shape-dataset.ts";
import { loadFixture, loadZooFixture } from "./fixtures.ts";
import { trainingGraphNodes } from "./graph-size.ts";
import { stepGraphOf } from "./pinpoint.ts";
import { gamePositions } from "./pinpoint-graphs.ts";

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
  const cases = [
    loadFixture("mlp"),
    loadFixture("cnn"),
    loadZooFixture("transformer_rows"),
    { name: "compute-bound mlp", ...computeBound() },
  ];
  for (const fixture of cases) {
    const quoted = new Map<number, number>();
    for (const threads of [1, 2]) {
      it(`${fixture.name}, ${threads} thread(s): is the node count of the step graph training compiles`, async () => {
        const counted = await trainingGraphNodes(
          fixture.model,
          fixture.spec,
          shapesOf(fixture.dataset),
          threads,
        );
        const compiled = gamePositions(await stepGraphOf({ ...fixture, threads }, 1)).length;
        assert.equal(counted, compiled);
        assert.ok(counted > 10);
        quoted.set(threads, counted);
        if (threads > 1) assert.equal(counted, quoted.get(1), "the count one thread gives");
      });
    }
  }
});
