// One training step of the compute-bound MLP (bench/compute-bound.ts), or of a fixture model, node
// by node: the median kernel time of each node of the step graph the engine trains (optimised,
// saved, run as is) over repeated runs, from onnxruntime's profiler: the matrix products of the
// forward and backward passes apart from the rest (the optimizer's Gemms, which update, count with
// the rest).
//   node --import tsx bench/step-profile.ts [--model compute-bound|mlp|cnn|attention] [--threads 1] [--runs 100]
import { parseArgs } from "node:util";
import { BatchOrder } from "../worker-runtime/train/data/batches.ts";
import { FIXTURE_MODELS, type FixtureName, loadFixture } from "../worker-runtime/train/fixtures.ts";
import { nodeTimes } from "../worker-runtime/train/node-times.ts";
import { nextRun, setUpRun } from "../worker-runtime/train/run-setup.ts";
import { computeBound } from "./compute-bound.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "compute-bound" },
    threads: { type: "string", default: "1" },
    runs: { type: "string", default: "100" },
  },
});
const threads = Number(values.threads);
const model = values.model;
if (model !== "compute-bound" && !(FIXTURE_MODELS as readonly string[]).includes(model)) {
  throw new Error(`--model: compute-bound or one of ${FIXTURE_MODELS.join(", ")}, got ${model}`);
}
const trainable = model === "compute-bound" ? computeBound() : loadFixture(model as FixtureName);
const setup = await setUpRun(
  trainable.model,
  trainable.dataset,
  { ...trainable.spec, epochs: undefined, max_steps: 1_000_000, validation: undefined },
  { threads, stepsPerRun: 1 },
);
const position = { epoch: 0, batch: 0, rngAtEpochStart: setup.initialRng };
const state = { step: 0, position, ...setup.engine.initialState() };
const { input } = nextRun(setup, state, new BatchOrder(setup.plan, position), 1);
const size = input.batch.target.dims[0]!;
const times = await nodeTimes(setup.engine.stepGraphBytes(size), setup.engine.stepFeeds(state, input), {
  threads,
  runs: Number(values.runs),
});
await setup.engine.release();

const isProduct = (t: { opType: string; node: string }) =>
  ["Gemm", "FusedGemm", "MatMul", "FusedMatMul", "Conv", "FusedConv", "ConvTranspose"].includes(t.opType) &&
  !t.node.startsWith("optimizer/");
const products = times.filter(isProduct);
const rest = times.filter((t) => !isProduct(t));
const total = (list: typeof times) => list.reduce((sum, t) => sum + t.median, 0);
console.log(
  `${model} step, ${threads} thread(s), median kernel time per node over ${values.runs} runs (µs):`,
);
for (const t of times) console.log(`${t.median.toFixed(0).padStart(7)}  ${t.opType.padEnd(12)} ${t.node}`);
const byOp = new Map<string, number>();
for (const t of times) byOp.set(t.opType, (byOp.get(t.opType) ?? 0) + t.median);
console.log(
  `\nby operator: ${[...byOp]
    .sort((a, b) => b[1] - a[1])
    .map(([op, us]) => `${op} ${us.toFixed(0)}`)
    .join(", ")}`,
);
console.log(
  `the ${products.length} products (matrix and convolution) of the forward and backward passes ${total(products).toFixed(0)} µs, the other ${rest.length} nodes ${total(rest).toFixed(0)} µs`,
);
