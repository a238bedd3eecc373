// One training step of the compute-bound MLP (bench/compute-bound.ts), or of a fixture model, node
// by node: the median kernel time of each node of the step graph the engine trains (optimised,
// saved, run as is) over repeated runs, from onnxruntime's profiler: the matrix and convolution
// products of the forward and backward passes apart from the rest (the optimizer's Gemms, which
// update, count with the rest). With several thread counts (--threads 1,2), a column per count and
// each node's time against the first: the nodes that do not split over threads are what keeps two
// threads from 2x. With --loop, the nodes of the Loop of steps that training runs (each run as
// many steps as the engine takes per run, the medians over every step of every run): there a
// step's inputs are the previous step's outputs, wherever its threads left them, as in training,
// and a run's first parallel loop waits for a sleeping pool thread only once.
//   node --import tsx bench/step-profile.ts [--model compute-bound|mlp|cnn|attention] [--threads 1[,2]] [--runs 100] [--momentum 0.9] [--loop]
import { parseArgs } from "node:util";
import { loopTrainingStep } from "../worker-runtime/autodiff/index.ts";
import { BatchOrder } from "../worker-runtime/train/data/batches.ts";
import { FIXTURE_MODELS, type FixtureName, loadFixture } from "../worker-runtime/train/fixtures.ts";
import { type NodeTime, nodeTimes } from "../worker-runtime/train/node-times.ts";
import { nextRun, setUpRun } from "../worker-runtime/train/run-setup.ts";
import { batchSizeOf } from "../worker-runtime/train/step-engine.ts";
import { computeBound, MOMENTUM } from "./compute-bound.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "compute-bound" },
    threads: { type: "string", default: "1" },
    runs: { type: "string", default: "100" },
    // The compute-bound model's SGD momentum (0: plain SGD).
    momentum: { type: "string", default: String(MOMENTUM) },
    loop: { type: "boolean", default: false },
  },
});
const threadCounts = values.threads.split(",").map(Number);
const runs = Number(values.runs);
const model = values.model;
if (model !== "compute-bound" && !(FIXTURE_MODELS as readonly string[]).includes(model)) {
  throw new Error(`--model: compute-bound or one of ${FIXTURE_MODELS.join(", ")}, got ${model}`);
}
const trainable =
  model === "compute-bound" ? computeBound(1024, Number(values.momentum)) : loadFixture(model as FixtureName);

/** The node times of the step graph built for `threads` threads (the graph may differ by thread count). */
async function profile(threads: number): Promise<NodeTime[]> {
  const setup = await setUpRun(
    trainable.model,
    trainable.dataset,
    { ...trainable.spec, epochs: undefined, max_steps: 1_000_000, validation: undefined },
    { threads, ...(values.loop ? {} : { stepsPerRun: 1 }) },
  );
  try {
    const { engine } = setup;
    const position = { epoch: 0, batch: 0, rngAtEpochStart: setup.initialRng };
    const state = { step: 0, position, ...engine.initialState() };
    const steps = values.loop ? engine.stepsPerRun : 1;
    if (values.loop && steps < 2)
      throw new Error(`the engine runs ${model} one step per run: no loop to profile`);
    const { input } = nextRun(setup, state, new BatchOrder(setup.plan, position), steps);
    const loop = values.loop ? loopTrainingStep(engine.graph) : undefined;
    const graph = loop ? loop.bytes : engine.stepGraphBytes(batchSizeOf(input));
    const times = await nodeTimes(graph, engine.stepFeeds(state, input, loop?.samples), { threads, runs });
    // The Loop node's own time is the whole run's.
    return times.filter((t) => t.opType !== "Loop");
  } finally {
    await setup.engine.release();
  }
}

const profiles: NodeTime[][] = [];
for (const threads of threadCounts) profiles.push(await profile(threads));
const [first, ...others] = profiles as [NodeTime[], ...NodeTime[][]];
const timeOf = (list: NodeTime[], node: string) => list.find((t) => t.node === node)?.median;

const isProduct = (t: { opType: string; node: string }) =>
  ["Gemm", "FusedGemm", "MatMul", "FusedMatMul", "Conv", "FusedConv", "ConvTranspose"].includes(t.opType) &&
  !t.node.startsWith("optimizer/");
const total = (list: NodeTime[]) => list.reduce((sum, t) => sum + t.median, 0);
console.log(
  `${model} step${values.loop ? " in the training Loop" : ""}, ${threadCounts.join(" and ")} thread(s), median kernel time per node over ${runs} runs${values.loop ? " of the Loop" : ""} (µs)${others.length > 0 ? `, and against ${threadCounts[0]} thread(s)` : ""}:`,
);
for (const t of first) {
  const columns = [
    t.median.toFixed(0).padStart(7),
    ...others.map((list) => {
      const median = timeOf(list, t.node);
      return median === undefined
        ? "      -        "
        : `${median.toFixed(0).padStart(7)} ${(median / t.median).toFixed(2).padStart(5)}x`;
    }),
  ];
  console.log(`${columns.join(" ")}  ${t.opType.padEnd(12)} ${t.node}`);
}
// Nodes of another thread count's graph that the first's lacks.
for (const [i, list] of others.entries()) {
  for (const t of list.filter((t) => timeOf(first, t.node) === undefined)) {
    console.log(`  only with ${threadCounts[i + 1]} threads: ${t.median.toFixed(0)}  ${t.opType} ${t.node}`);
  }
}
for (const [i, times] of profiles.entries()) {
  const byOp = new Map<string, number>();
  for (const t of times) byOp.set(t.opType, (byOp.get(t.opType) ?? 0) + t.median);
  const products = times.filter(isProduct);
  const rest = times.filter((t) => !isProduct(t));
  console.log(
    `\n${threadCounts[i]} thread(s), by operator: ${[...byOp]
      .sort((a, b) => b[1] - a[1])
      .map(([op, us]) => `${op} ${us.toFixed(0)}`)
      .join(", ")}`,
  );
  console.log(
    `the ${products.length} products (matrix and convolution) of the forward and backward passes ${total(products).toFixed(0)} µs, the other ${rest.length} nodes ${total(rest).toFixed(0)} µs`,
  );
}
