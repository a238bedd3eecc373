// Training throughput, ours vs PyTorch: steps per second on one thread, batch 32, for the MLP,
// CNN and attention fixtures (8x8-image-sized data), same models, data and optimizer settings.
//   npm run bench:train            (node --import tsx bench/train.ts)
//   npm run bench:train -- --steps 500 --repeats 5 --warmup 100 --models mlp,cnn --steps-per-run 1
// PyTorch runs live through /usr/bin/python3 (Debian's python3-torch) with
// torch.set_num_threads(1); without it, only our numbers are printed.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { BatchOrder } from "../worker-runtime/train/data/batches.ts";
import { FIXTURE_MODELS, type FixtureName, loadFixture } from "../worker-runtime/train/fixtures.ts";
import { advance, nextCheckpointStep, setUpRun } from "../worker-runtime/train/run-setup.ts";

const PYTHON = "/usr/bin/python3";

const { values } = parseArgs({
  options: {
    warmup: { type: "string", default: "200" },
    steps: { type: "string", default: "200" },
    repeats: { type: "string", default: "8" },
    models: { type: "string", default: FIXTURE_MODELS.join(",") },
    // Unset: the trainer's own choice per model.
    "steps-per-run": { type: "string" },
  },
});
const warmup = Number(values.warmup);
const steps = Number(values.steps);
const repeats = Number(values.repeats);
const models = values.models.split(",") as FixtureName[];
const stepsPerRunOption =
  values["steps-per-run"] === undefined ? {} : { stepsPerRun: Number(values["steps-per-run"]) };

/**
 * Our side: the trainer's loop without its bookkeeping (batch assembly, learning rates, runs of
 * the step graph that stop at every checkpoint and epoch end, as in training).
 */
async function ourTrainer(name: FixtureName): Promise<{
  burst: (steps: number) => Promise<number>;
  /** Mean steps per onnxruntime run so far. */
  stepsPerRun: () => number;
  release: () => Promise<void>;
}> {
  const fixture = loadFixture(name);
  const spec = { ...fixture.spec, epochs: undefined, max_steps: 1_000_000, validation: undefined };
  const setup = await setUpRun(fixture.model, fixture.dataset, spec, stepsPerRunOption);
  let state = {
    step: 0,
    position: { epoch: 0, batch: 0, rngAtEpochStart: setup.initialRng },
    ...setup.engine.initialState(),
  };
  const order = new BatchOrder(setup.plan, state.position);
  let runs = 0;
  // At least `steps` steps, ending where a run ends.
  const burst = async (steps: number) => {
    const started = performance.now();
    const first = state.step;
    while (state.step < first + steps) {
      state = (await advance(setup, state, order, nextCheckpointStep(setup, state.step))).state;
      runs += 1;
    }
    return (state.step - first) / ((performance.now() - started) / 1000);
  };
  await burst(warmup);
  return { burst, stepsPerRun: () => state.step / runs, release: () => setup.engine.release() };
}

/** The PyTorch side as a long-lived child answering "<model> <steps>" lines, or why it cannot run. */
async function torchTrainer(): Promise<
  { burst: (name: string, steps: number) => Promise<number>; stop: () => void } | string
> {
  const script = new URL("./train_torch.py", import.meta.url).pathname;
  const child = spawn(PYTHON, [script, String(warmup), models.join(",")], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const failed = new Promise<string>((resolve) => {
    child.on("error", (error) => resolve(error.message));
    child.on("exit", () => resolve(stderr.trim().split("\n").at(-1) ?? "exited"));
  });
  const ready = await Promise.race([
    // A child that exits before "ready" closes stdout first: its reason comes from `failed`.
    lines.next().then((l) => (l.done ? failed : l.value === "ready" ? undefined : String(l.value))),
    failed,
  ]);
  if (ready !== undefined) {
    child.kill();
    return `PyTorch not run (${ready}); install it with: apt-get install -y python3-torch python3-onnx python3-sklearn`;
  }
  return {
    burst: async (name, steps) => {
      child.stdin.write(`${name} ${steps}\n`);
      return JSON.parse(String((await lines.next()).value));
    },
    stop: () => child.kill(),
  };
}

const torch = await torchTrainer();
const ours: Record<string, number> = {};
const stepsPerRun: Record<string, number> = {};
const theirs: Record<string, number> = {};
for (const name of models) {
  const trainer = await ourTrainer(name);
  // Alternate bursts so both sides see the same machine load; keep each side's best burst.
  for (let r = 0; r < repeats; r++) {
    ours[name] = Math.max(ours[name] ?? 0, await trainer.burst(steps));
    if (typeof torch !== "string") theirs[name] = Math.max(theirs[name] ?? 0, await torch.burst(name, steps));
  }
  stepsPerRun[name] = trainer.stepsPerRun();
  await trainer.release();
}
if (typeof torch !== "string") torch.stop();

const targets: Record<FixtureName, number> = { mlp: 1.5, cnn: 1, attention: 1 };
console.log(
  `training steps/s, 1 thread, batch 32, best of ${repeats} alternating bursts of ${steps} steps after ${warmup} warm-up\n`,
);
console.log("model      | steps/run | veritrain | pytorch | ratio | target");
console.log("-----------|-----------|-----------|---------|-------|-------");
for (const name of models) {
  const reference = theirs[name];
  const ratio = reference ? (ours[name]! / reference).toFixed(2) : "-";
  const cells = [
    name.padEnd(10),
    stepsPerRun[name]!.toFixed(1).padStart(9),
    ours[name]!.toFixed(1).padStart(9),
    (reference?.toFixed(1) ?? "-").padStart(7),
    `${ratio}x`.padStart(5),
    `>=${targets[name]}x`,
  ];
  console.log(cells.join(" | "));
}
if (typeof torch === "string") console.log(`\n${torch}`);
