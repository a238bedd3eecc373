// bench:replay's comparison in instructions instead of CPU time, which is noisy on a loaded
// machine. Counted by callgrind only inside onnxruntime runs (the binding's
// InferenceSessionWrap::Run: tensors in, the graph, tensors out to JavaScript) and SHA-256
// blocks (checkpoint and leaf hashes): the work per step, which JIT and garbage collection do not
// touch, where a whole node process's count varied by 160 million instructions between two
// identical runs. Three processes of bench/replay.ts, in parallel:
//   W1 = `--phase worker --repeats 1`: warm-up, one worker run
//   W2 = `--phase worker --repeats 2`: warm-up, two worker runs
//   R1 = `--phase replay --repeats 1`: warm-up, one worker run, two replays of every segment
// so a worker run is W2 − W1 (its setup's probe, three steps, included) and a replay of every
// segment (R1 − W1) / 2. Slow: 20 minutes for the MLP on a loaded machine.
//   node --import tsx bench/replay-instructions.ts --models mlp,cnn
//   (--segments, --segment-steps, --stride as bench:replay)
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";

const { values } = parseArgs({
  options: {
    segments: { type: "string", default: "4" },
    "segment-steps": { type: "string", default: "64" },
    stride: { type: "string", default: "16" },
    models: { type: "string", default: "mlp,cnn" },
  },
});
const steps = Number(values.segments) * Number(values["segment-steps"]);
const dir = mkdtempSync(join(tmpdir(), "vt-bench-callgrind-"));
const run = promisify(execFile);

/** Instructions callgrind counted inside runs and hashes of one process running `phase` `repeats` times. */
async function instructions(model: string, phase: string, repeats: number): Promise<number> {
  const out = join(dir, `${model}-${phase}-${repeats}.out`);
  await run("valgrind", [
    "--tool=callgrind",
    `--callgrind-out-file=${out}`,
    "--collect-atstart=no",
    "--toggle-collect=InferenceSessionWrap::Run*",
    "--toggle-collect=sha256_block_data_order*",
    process.execPath,
    "--import",
    "tsx",
    "bench/replay.ts",
    ...["--models", model, "--phase", phase, "--repeats", String(repeats)],
    ...["--segments", values.segments, "--segment-steps", values["segment-steps"], "--stride", values.stride],
  ]);
  const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(out, "utf8"));
  if (!totals) throw new Error(`no instruction total in ${out}`);
  return Number(totals[1]);
}

try {
  console.log(
    `instructions per step (millions) inside onnxruntime runs and SHA-256: a worker training ${values.segments} segments of ${values["segment-steps"]} steps against a verifier replaying each, stride ${values.stride}\n`,
  );
  console.log("model    | worker | replay | ratio");
  console.log("---------|--------|--------|------");
  for (const model of values.models.split(",")) {
    const [w1, w2, r1] = await Promise.all([
      instructions(model, "worker", 1),
      instructions(model, "worker", 2),
      instructions(model, "replay", 1),
    ]);
    const worker = (w2 - w1) / steps;
    const replay = (r1 - w1) / 2 / steps;
    const cells = [
      model.padEnd(8),
      (worker / 1e6).toFixed(3).padStart(6),
      (replay / 1e6).toFixed(3).padStart(6),
      `${(replay / worker).toFixed(2)}x`.padStart(5),
    ];
    console.log(cells.join(" | "));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
