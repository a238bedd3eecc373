// The task's graph_nodes the API counts at the quote (the inspector's probe) is the N a node's
// dispute player and the referee count for the same job: the node count of the step graph they
// trace (pinpoint.ts), for every fixture model. A mismatch would make every honest player refuse
// phase 2 of the pinpoint game (GRAPH_MISMATCH) and lose it at its deadline.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadFixture, loadZooFixture } from "../../../worker-runtime/train/fixtures.ts";
import { stepGraphOf } from "../../../worker-runtime/train/pinpoint.ts";
import { gamePositions } from "../../../worker-runtime/train/pinpoint-graphs.ts";
import type { DatasetDetails } from "./dataset.ts";
import { Inspector } from "./inspector.ts";

let dir: string;
const inspector = new Inspector();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "veritrain-graph-nodes-"));
});
after(async () => {
  await inspector.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the quote's graph_nodes", () => {
  const cases = [loadFixture("mlp"), loadFixture("cnn"), loadZooFixture("transformer_rows")];
  for (const fixture of cases) {
    it(`${fixture.name}: equals the node count of the step graph a dispute player traces`, async () => {
      // The dataset's shapes as upload inspection records them, as the quote passes them on.
      const filename = basename(fixture.dataset.fileName);
      const path = join(dir, `${fixture.name}-${filename}`);
      await writeFile(path, fixture.dataset.bytes);
      const details = (await inspector.inspect({
        purpose: "dataset",
        path,
        filename,
      })) as DatasetDetails;
      const counted = await inspector.probe(async () => fixture.model, {
        sha256: fixture.name,
        spec: fixture.spec,
        dataset: { format: details.format, tensors: details.tensors },
      });
      const traced = gamePositions(await stepGraphOf(fixture, 1)).length;
      assert.equal(counted, traced);
      assert.ok(counted > 10, `a training step has more than a handful of nodes (${counted})`);
    });
  }
});
