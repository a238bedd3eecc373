// Training throughput, ours vs PyTorch: steps per second on one thread, batch 32, for the MLP,
// CNN and attention fixtures (8x8-image-sized data), same models, data and optimizer settings.
//   npm run bench:train            (node --import tsx bench/train.ts)
//   npm run bench:train -- --steps 500 --repeats 5 --models mlp,cnn
// PyTorch runs live through /usr/bin/python3 (Debian's python3-torch) with
// torch.set_num_threads(1); without it, only our numbers are printed.
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { BatchOrder } from "../worker-runtime/train/data/batches.ts";
import { FIXTURE_MODELS, type FixtureName, loadFixture } from "../worker-runtime/train/fixtures.ts";
import { advance, setUpRun } from "../worker-runtime/train/run-setup.ts";

const PYTHON = "/usr/bin/python3";

const { values } = parseArgs({
  options: {
    warmup: { type: "string", default: "50" },
    steps: { type: "string", default: "300" },
    repeats: { type: "string", default: "3" },
    models: { type: "string", default: FIXTURE_MODELS.join(",") },
  },
});
const warmup = Number(values.warmup);
const steps = Number(values.steps);
const repeats = Number(values.repeats);
const models = values.models.split(",") as FixtureName[];

/** Best of `repeats` timed runs of `steps` steps, after `warmup` steps: the whole step as the trainer runs it. */
async function ourStepsPerSecond(name: FixtureName): Promise<number> {
  const fixture = loadFixture(name);
  const spec = { ...fixture.spec, epochs: undefined, max_steps: 1_000_000, validation: undefined };
  const setup = await setUpRun(fixture.model, fixture.dataset, spec);
  try {
    let state = {
      step: 0,
      position: { epoch: 0, batch: 0, rngAtEpochStart: setup.initialRng },
      ...setup.engine.initialState(setup.model),
    };
    const order = new BatchOrder(setup.plan, state.position);
    for (let i = 0; i < warmup; i++) state = (await advance(setup, state, order)).state;
    let best = 0;
    for (let r = 0; r < repeats; r++) {
      const started = performance.now();
      for (let i = 0; i < steps; i++) state = (await advance(setup, state, order)).state;
      best = Math.max(best, steps / ((performance.now() - started) / 1000));
    }
    return best;
  } finally {
    await setup.engine.release();
  }
}

function torchStepsPerSecond(): Record<string, number> | string {
  const script = new URL("./train_torch.py", import.meta.url).pathname;
  const run = spawnSync(PYTHON, [script, String(warmup), String(steps), String(repeats), models.join(",")], {
    encoding: "utf8",
  });
  if (run.error || run.status !== 0) {
    const reason = run.error?.message ?? run.stderr.trim().split("\n").at(-1);
    return `PyTorch not run (${reason}); install it with: apt-get install -y python3-torch python3-onnx python3-sklearn`;
  }
  return JSON.parse(run.stdout.trim().split("\n").at(-1)!);
}

const ours: Record<string, number> = {};
for (const name of models) ours[name] = await ourStepsPerSecond(name);
const torch = torchStepsPerSecond();

const targets: Record<FixtureName, number> = { mlp: 1.5, cnn: 1, attention: 1 };
console.log(
  `training steps/s, 1 thread, batch 32, best of ${repeats} x ${steps} steps after ${warmup} warm-up\n`,
);
console.log("model      | veritrain | pytorch | ratio | target");
console.log("-----------|-----------|---------|-------|-------");
for (const name of models) {
  const theirs = typeof torch === "string" ? undefined : torch[name];
  const ratio = theirs ? (ours[name]! / theirs).toFixed(2) : "-";
  const cells = [
    name.padEnd(10),
    ours[name]!.toFixed(1).padStart(9),
    (theirs?.toFixed(1) ?? "-").padStart(7),
    `${ratio}x`.padStart(5),
    `>=${targets[name]}x`,
  ];
  console.log(cells.join(" | "));
}
if (typeof torch === "string") console.log(`\n${torch}`);
