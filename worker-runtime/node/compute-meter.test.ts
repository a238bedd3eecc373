// What a node's compute report counts (compute-meter.ts): the work's own callbacks, hashing the
// transcript included; not the daemon's work beside it, nor the run's set-up.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as immediate, setTimeout as sleep } from "node:timers/promises";
import { checkpointSha256, decodeCheckpoint } from "../train/checkpoint.ts";
import { loadFixture } from "../train/fixtures.ts";
import { setUpProbedRun } from "../train/run-setup.ts";
import { initialCheckpoint } from "../train/trainer.ts";
import { apart, measureCpu } from "../train/work-cpu.ts";
import { replayForVerdict } from "./audit-task.ts";

const cpuSeconds = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1e6;
};

/**
 * Keeps the CPU busy for `seconds` of the process's CPU time, allocating next to nothing: garbage
 * would keep V8's helper threads busy, and their CPU would count wherever it falls.
 */
function burn(seconds: number): number {
  const until = cpuSeconds() + seconds;
  let sink = 0;
  while (cpuSeconds() < until) for (let i = 0; i < 10_000; i++) sink += Math.sqrt(i + sink);
  return sink;
}

/** The least of `times` measurements: CPU figures on a shared machine only ever come out high. */
async function least(times: number, measure: () => Promise<number>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < times; i++) best = Math.min(best, await measure());
  return best;
}

describe("the compute a node reports", () => {
  it("counts the work's own callbacks, not the event loop's other work meanwhile", async () => {
    // The daemon's duties beside an audit: callbacks of their own, busy while the work waits.
    let background = 0;
    const daemon = setInterval(() => {
      const before = cpuSeconds();
      burn(0.004);
      background += cpuSeconds() - before;
    }, 1);
    try {
      const { cpuSeconds: reported } = await measureCpu(async () => {
        for (let i = 0; i < 20; i++) {
          await sleep(3);
          burn(0.001);
          // Where onnxruntime-node runs a session: an immediate the work scheduled.
          await new Promise<void>((resolve) =>
            setImmediate(() => {
              burn(0.001);
              resolve();
            }),
          );
        }
      });
      assert.ok(background > 0.04, `the background ran (${background} s)`);
      assert.ok(reported >= 0.038, `the work's 40 ms are counted: ${reported} s`);
      // A meter of the whole process would report the work's 40 ms and all of the background's;
      // the bound leaves room for other threads' CPU (the process's figure counts every thread)
      // that a loaded machine adds while the work's callbacks run.
      assert.ok(reported < 0.04 + background / 2, `the background's ${background} s are not: ${reported} s`);
    } finally {
      clearInterval(daemon);
    }
  });

  it("leaves out what the work runs apart, and a run's set-up", async () => {
    const mlp = loadFixture("mlp");
    const { cpuSeconds: reported } = await measureCpu(async () => {
      await immediate();
      burn(0.01);
      await apart(async () => {
        await immediate();
        burn(0.03);
      });
      const setup = await setUpProbedRun(mlp.model, mlp.dataset, mlp.spec);
      await setup.engine.release();
    });
    assert.ok(reported >= 0.0095, `the work's own 10 ms are counted: ${reported} s`);
    assert.ok(reported < 0.025, `the 30 ms apart and the set-up are not: ${reported} s`);
  });

  it("counts everything a replay does, hashing its transcript's leaves included", async () => {
    // 64 steps from step 0 with a stride-1 transcript: 64 states hashed, a third or so of the CPU.
    const mlp = loadFixture("mlp");
    const spec = {
      ...mlp.spec,
      epochs: undefined,
      validation: undefined,
      max_steps: 64,
      checkpoint_every: 64,
    };
    const from = await initialCheckpoint(mlp.model, mlp.dataset, spec);
    const segment = { model: mlp.model, dataset: mlp.dataset, spec, from, fromStep: 0, toStep: 64 };
    // The set-up is made, and kept, before anything is compared.
    await replayForVerdict(segment, 1);
    const state = decodeCheckpoint(from);
    const missed = await least(3, async () => {
      const before = cpuSeconds();
      const { cpuSeconds: reported } = await measureCpu(() => replayForVerdict(segment, 1));
      const spent = cpuSeconds() - before;
      const hashing = cpuSeconds();
      for (let i = 0; i < 64; i++) checkpointSha256(state);
      // What the report misses of the process's CPU, against what the hashes alone cost.
      return (spent - reported) / (cpuSeconds() - hashing);
    });
    assert.ok(missed < 0.5, `with nothing beside it, the report misses ${missed} of the leaves' hashing`);
  });
});
