import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

const root = new URL("../../", import.meta.url).pathname;
const fixtures = join(root, "worker-runtime/fixtures");
const scratch = mkdtempSync(join(tmpdir(), "veritrain-cli-train-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

// The command on its own program, as cli/commands.ts registers it.
const entry = `
import { Command } from "commander";
import { registerTrainCommand } from "./cli/commands/train.ts";
const program = new Command("veritrain");
registerTrainCommand(program);
// With -e there is no script path: the arguments start right after the executable.
await program.parseAsync(process.argv.slice(1), { from: "user" });
`;

function veritrainTrain(args: string[]) {
  return spawnSync(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", entry, "--", "train", ...args],
    {
      cwd: root,
      encoding: "utf8",
    },
  );
}

describe("veritrain train", () => {
  it("trains, writes the model, checkpoints and metrics, and prints JSON lines off a terminal", () => {
    const out = join(scratch, "mlp.onnx");
    const metrics = join(scratch, "metrics.json");
    const checkpoints = join(scratch, "checkpoints");
    const run = veritrainTrain([
      "--model",
      join(fixtures, "mlp.onnx"),
      "--data",
      join(fixtures, "data/digits.safetensors"),
      "--spec",
      join(fixtures, "mlp.spec.json"),
      "--out",
      out,
      "--metrics",
      metrics,
      "--checkpoint-dir",
      checkpoints,
    ]);
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    assert.equal(lines[0].type, "start");
    assert.ok(lines.some((l) => l.type === "epoch" && l.val_accuracy > 0.85));
    const done = lines.at(-1);
    assert.equal(done.type, "done");
    assert.ok(existsSync(out));
    const manifest = JSON.parse(readFileSync(join(checkpoints, "manifest.json"), "utf8"));
    assert.equal(manifest.merkle_root, done.merkle_root);
    assert.equal(manifest.checkpoints.at(-1).sha256, done.final_sha256);
    assert.equal(JSON.parse(readFileSync(metrics, "utf8")).epochs.length, 10);
  });

  it("exits non-zero with a clear message on bad input", () => {
    const run = veritrainTrain([
      "--model",
      join(fixtures, "cnn.onnx"),
      "--data",
      join(fixtures, "data/digits.safetensors"),
      "--spec",
      join(fixtures, "cnn.spec.json"),
      "--out",
      join(scratch, "never.onnx"),
    ]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /error \[DATA_MODEL_MISMATCH\]/);
    assert.match(
      run.stderr,
      /x_train: shape \[1440, 64\] does not fit model input image of shape \[batch, 1, 8, 8\]/,
    );
    const missing = veritrainTrain([
      "--model",
      "nope.onnx",
      "--data",
      "x.npz",
      "--spec",
      "s.json",
      "--out",
      "o.onnx",
    ]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot read --model nope.onnx/);
  });
});
