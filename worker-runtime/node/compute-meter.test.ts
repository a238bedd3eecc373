// The compute a node reports leaves its runs' set-up out, and counts everything else it spends.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadFixture } from "../train/fixtures.ts";
import { setUpRun } from "../train/run-setup.ts";
import { cpuMeter } from "./compute-meter.ts";

const mlp = loadFixture("mlp");

test("a run's set-up is left out of the reported compute; other work counts", async () => {
  const raw = cpuMeter();
  const meter = cpuMeter();
  const before = process.cpuUsage();
  const setup = await setUpRun(mlp.model, mlp.dataset, mlp.spec);
  const used = process.cpuUsage(before);
  const spent = (used.user + used.system) / 1e6;
  const reported = meter();
  await setup.engine.release();
  assert.ok(spent > 0.005, `setting the MLP up costs CPU (${spent} s)`);
  assert.ok(reported >= 0 && reported < spent / 5, `set-up left out: ${reported} s of ${spent} s reported`);

  const busy = cpuMeter();
  let sink = 0;
  for (let i = 0; i < 5e6; i++) sink += Math.sqrt(i);
  assert.ok(sink > 0);
  assert.ok(busy() > 0.001, "work that is not set-up is counted");
  assert.ok(raw() >= reported);
});
