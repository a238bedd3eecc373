// bench:replay's comparison in instructions instead of CPU time: repeatable on a loaded machine,
// where CPU time is not. Each phase of bench/replay.ts (a worker's whole run, replays of every
// segment with the setup kept, a setup) runs under callgrind once with --repeats 1 and once with
// --repeats 2; the difference is one unit of that phase, everything else (node, module loading,
// warm-up) cancelling. Instructions of all threads, counted by valgrind; slow (minutes per model).
//   node --import tsx bench/replay-instructions.ts --models mlp,cnn
//   (--segments, --segment-steps, --stride as bench:replay)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

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

/** Instructions callgrind counted in one process running `phase` `repeats` times. */
function instructions(model: string, phase: string, repeats: number): number {
  const out = join(dir, `${model}-${phase}-${repeats}.out`);
  execFileSync(
    "valgrind",
    [
      "--tool=callgrind",
      `--callgrind-out-file=${out}`,
      process.execPath,
      "--import",
      "tsx",
      "bench/replay.ts",
      ...["--models", model, "--phase", phase, "--repeats", String(repeats)],
      ...[
        "--segments",
        values.segments,
        "--segment-steps",
        values["segment-steps"],
        "--stride",
        values.stride,
      ],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(out, "utf8"));
  if (!totals) throw new Error(`no instruction total in ${out}`);
  return Number(totals[1]);
}

const unit = (model: string, phase: string) => instructions(model, phase, 2) - instructions(model, phase, 1);

try {
  console.log(
    `instructions per step (millions), all threads: a worker training ${values.segments} segments of ${values["segment-steps"]} steps against a verifier replaying each, stride ${values.stride}\n`,
  );
  console.log("model    | worker | replay | ratio | setup (millions)");
  console.log("---------|--------|--------|-------|-----------------");
  for (const model of values.models.split(",")) {
    const setup = unit(model, "setup");
    const worker = (unit(model, "worker") - setup) / steps;
    const replay = unit(model, "replay") / steps;
    const cells = [
      model.padEnd(8),
      (worker / 1e6).toFixed(2).padStart(6),
      (replay / 1e6).toFixed(2).padStart(6),
      `${(replay / worker).toFixed(2)}x`.padStart(5),
      (setup / 1e6).toFixed(0).padStart(16),
    ];
    console.log(cells.join(" | "));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
