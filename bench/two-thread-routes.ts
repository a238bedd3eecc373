// Whether any way of running the compute-bound model's step on two threads reaches issue 14's
// 1.7x of one thread here: onnxruntime's intra-op threads (the engine's --threads 2), a
// data-parallel split of the batch between two worker threads (a ceiling: no gradient exchange),
// and onnxruntime's parallel executor with each half of the batch a logic stream
// (worker-runtime/train/two-thread-routes.ts). One-step graphs, plain SGD, as bench:train's targets.
// With a partition file onnxruntime's planner prints the buffers it reuses across the streams to
// stdout (a score of lines before the figures).
//   npm run bench:threads -- [--steps 100] [--bursts 8]
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { BatchOrder } from "../worker-runtime/train/data/batches.ts";
import { nextRun, setUpRun } from "../worker-runtime/train/run-setup.ts";
import { batchSizeOf } from "../worker-runtime/train/step-engine.ts";
import { type StepGraph, twoThreadRoutes } from "../worker-runtime/train/two-thread-routes.ts";
import { BATCH, denseMlp, WIDTHS } from "./compute-bound.ts";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "100" },
    bursts: { type: "string", default: "8" },
  },
});

/** The compute-bound model's one-step graph at `batch` samples, with its first step's inputs. */
async function stepGraph(batch: number): Promise<StepGraph> {
  const trainable = denseMlp({ widths: WIDTHS, batch, samples: 8 * BATCH, momentum: 0 });
  const setup = await setUpRun(
    trainable.model,
    trainable.dataset,
    { ...trainable.spec, epochs: undefined, max_steps: 1_000_000, validation: undefined },
    { threads: 1, stepsPerRun: 1 },
  );
  try {
    const { engine } = setup;
    const position = { epoch: 0, batch: 0, rngAtEpochStart: setup.initialRng };
    const state = { step: 0, position, ...engine.initialState() };
    const { input } = nextRun(setup, state, new BatchOrder(setup.plan, position), 1);
    return { graph: engine.stepGraphBytes(batchSizeOf(input)), feeds: engine.stepFeeds(state, input) };
  } finally {
    await setup.engine.release();
  }
}

const before = loadavg().map((l) => l.toFixed(1));
const rates = await twoThreadRoutes(await stepGraph(BATCH), await stepGraph(BATCH / 2), {
  steps: Number(values.steps),
  bursts: Number(values.bursts),
});
const after = loadavg().map((l) => l.toFixed(1));
const speedUp = (rate: number) => `${rate.toFixed(1)} steps/s = ${(rate / rates.oneThread).toFixed(2)}x`;
console.log(
  `compute-bound MLP ${WIDTHS.join("-")}, batch ${BATCH}, plain SGD, one step per run, best of ${values.bursts} alternating bursts of ${values.steps} steps (load average ${before.join(" ")} before, ${after.join(" ")} after)`,
);
console.log(`  one thread:                                          ${rates.oneThread.toFixed(1)} steps/s`);
console.log(`  two intra-op threads (the engine's --threads 2):     ${speedUp(rates.intraOp)}`);
console.log(`  two worker threads, half the batch each (a ceiling): ${speedUp(rates.dataParallel)}`);
console.log(`  parallel executor, half the batch per stream:        ${speedUp(rates.parallelExecutor)}`);
console.log(
  `  best two-thread route: ${Math.max(rates.intraOp, rates.dataParallel, rates.parallelExecutor) / rates.oneThread >= 1.7 ? "reaches" : "does not reach"} issue 14's 1.7x`,
);
