// A verifier's cost against the worker's: CPU time of training N segments (as a worker does,
// checkpoints written and hashed) against replaying each of them from its start checkpoint with
// the strided transcript a verdict carries, per step, for the MLP and CNN fixtures and the
// compute-bound MLP (784-512-512-10, batch 128). For comparison, the transcript of every step
// (stride 1: a leaf after each step).
//   npm run bench:replay           (node --import tsx bench/replay.ts)
//   npm run bench:replay -- --segments 4 --segment-steps 64 --stride 16 --repeats 3 --models mlp,cnn,compute
// One thread throughout; each figure is the best of `repeats` alternating measurements. Setup
// (loading model and data, compiling the step graphs, creating the sessions) is measured apart:
// the worker pays it once per task, a verifier once per task too, since replay keeps it between
// the segments it replays (replay-setups.ts); here the replays run with it kept.
//
// CPU time on a shared machine is noisy. With `--phase worker` or `replay` the process does one
// model's warm-up and then only `repeats` units of that phase (a worker's whole run; a worker's
// run, then replays of every segment with the setup kept), printing nothing, for
// bench/replay-instructions.ts to count instructions under callgrind.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CheckpointDir } from "../worker-runtime/train/checkpoint-dir.ts";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";
import { replayTranscript } from "../worker-runtime/train/replay.ts";
import { setUpRun } from "../worker-runtime/train/run-setup.ts";
import { train } from "../worker-runtime/train/trainer.ts";
import { computeBound, type Trainable } from "./compute-bound.ts";

const { values } = parseArgs({
  options: {
    segments: { type: "string", default: "4" },
    "segment-steps": { type: "string", default: "64" },
    stride: { type: "string", default: "16" },
    repeats: { type: "string", default: "3" },
    models: { type: "string", default: "mlp,cnn,compute" },
    phase: { type: "string" },
  },
});
const segments = Number(values.segments);
const segmentSteps = Number(values["segment-steps"]);
const stride = Number(values.stride);
const repeats = Number(values.repeats);
const totalSteps = segments * segmentSteps;

const cpuSeconds = async (work: () => Promise<unknown>): Promise<number> => {
  const start = process.cpuUsage();
  await work();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
};

function trainable(name: string): Trainable {
  if (name === "compute") return computeBound();
  if (name === "mlp" || name === "cnn") return loadFixture(name);
  throw new Error(`unknown model ${name}: mlp, cnn or compute`);
}

interface Row {
  name: string;
  /** CPU seconds: one setup (model, data, compiled step graphs), the worker's run, the replays. */
  setup: number;
  worker: number;
  strided: number;
  everyStep: number;
}

async function measure(name: string): Promise<Row> {
  const fixture = trainable(name);
  const spec = {
    ...fixture.spec,
    epochs: undefined,
    validation: undefined,
    max_steps: totalSteps,
    checkpoint_every: segmentSteps,
  };
  const dir = mkdtempSync(join(tmpdir(), "vt-bench-replay-"));
  try {
    const replayAll = (transcriptStride: number) => async () => {
      const store = CheckpointDir.open(dir);
      for (let i = 0; i < segments; i++) {
        const fromStep = i * segmentSteps;
        const toStep = fromStep + segmentSteps;
        const { sha256, leaves } = await replayTranscript({
          ...fixture,
          spec,
          from: store.read(fromStep).bytes,
          fromStep,
          toStep,
          stride: transcriptStride,
        });
        if (sha256 !== store.read(toStep).record.sha256) {
          throw new Error(`${name}: the replay of steps ${fromStep}-${toStep} disagrees with the worker`);
        }
        if (leaves.length !== Math.ceil(segmentSteps / transcriptStride)) {
          throw new Error(`${name}: a transcript of ${leaves.length} leaves`);
        }
      }
    };
    const setUp = async () => (await setUpRun(fixture.model, fixture.dataset, spec)).engine.release();
    const trainAll = () => {
      rmSync(dir, { recursive: true, force: true });
      return train({ ...fixture, spec, checkpointDir: dir });
    };
    // Warm-up: the first run of a process pays for compiling our code and onnxruntime's kernels.
    await train({ ...fixture, spec: { ...spec, max_steps: 2 * stride } });
    const row: Row = { name, setup: Infinity, worker: Infinity, strided: Infinity, everyStep: Infinity };
    if (values.phase !== undefined) {
      const unit = { worker: trainAll, replay: replayAll(stride) }[values.phase];
      if (!unit) throw new Error(`unknown phase ${values.phase}: worker or replay`);
      if (values.phase === "replay") {
        await trainAll();
        // The setup replays keep, made once.
        await replayAll(stride)();
      }
      for (let r = 0; r < repeats; r++) await unit();
      return row;
    }
    // The replays' setup, kept from here on, as a verifier keeps it between a task's segments.
    await trainAll();
    await replayAll(stride)();
    for (let r = 0; r < repeats; r++) {
      row.setup = Math.min(row.setup, await cpuSeconds(setUp));
      row.worker = Math.min(row.worker, await cpuSeconds(trainAll));
      row.strided = Math.min(row.strided, await cpuSeconds(replayAll(stride)));
      row.everyStep = Math.min(row.everyStep, await cpuSeconds(replayAll(1)));
    }
    return row;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
for (const name of values.models.split(",")) rows.push(await measure(name));
if (values.phase !== undefined) process.exit(0);

// Per step: the setup (once per task, the worker's and the verifier's) left out; the last column
// puts it back, once for the worker's run and once for the verifier's replays of its segments.
const ms = (seconds: number, width: number) => (seconds * 1000).toFixed(3).padStart(width);
console.log(
  `CPU ms per step, 1 thread: a worker training ${segments} segments of ${segmentSteps} steps against a verifier replaying each from its start checkpoint, best of ${repeats}\n`,
);
console.log(
  `model    | worker | replay, stride ${stride} | ratio | replay, every step | ratio | setup ms | ratio with setup`,
);
console.log(
  "---------|--------|------------------|-------|--------------------|-------|----------|-----------------",
);
for (const { name, setup, worker, strided, everyStep } of rows) {
  const trained = (worker - setup) / totalSteps;
  const replayed = (seconds: number) => seconds / totalSteps;
  const cells = [
    name.padEnd(8),
    ms(trained, 6),
    ms(replayed(strided), 16),
    `${(replayed(strided) / trained).toFixed(2)}x`.padStart(5),
    ms(replayed(everyStep), 18),
    `${(replayed(everyStep) / trained).toFixed(2)}x`.padStart(5),
    (setup * 1000).toFixed(0).padStart(8),
    `${((strided + setup) / worker).toFixed(2)}x`.padStart(16),
  ];
  console.log(cells.join(" | "));
}
console.log("\ntarget: a replayed step costs at most 1.1x a trained one");
