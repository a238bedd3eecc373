// `veritrain train`: local training, no network, no database. On a terminal it draws a progress
// bar; otherwise it prints one JSON object per line (start, about a hundred step lines, every
// epoch and checkpoint, done) so scripts and log collectors can follow a run.
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { MultiBar, Presets } from "cli-progress";
import type { Command } from "commander";
import { TrainError } from "../../worker-runtime/train/errors.ts";
import { type TrainEvent, type TrainResult, train } from "../../worker-runtime/train/trainer.ts";
import { fail } from "../process.ts";

interface TrainFlags {
  model: string;
  data: string;
  spec: string;
  out: string;
  checkpointDir?: string;
  resume?: string;
  metrics?: string;
  threads?: string;
}

function readInput(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new TrainError("INVALID_SPEC", `cannot read ${flag} ${path}: ${(error as Error).message}`);
  }
}

function readSpec(path: string): unknown {
  const text = readInput(path, "--spec").toString("utf8");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TrainError("INVALID_SPEC", `--spec ${path} is not JSON: ${(error as Error).message}`);
  }
}

type Reporter = { onEvent: (event: TrainEvent) => void; stop: () => void };

function jsonLinesReporter(): Reporter {
  let every = 1;
  const line = (value: object) => process.stdout.write(`${JSON.stringify(value)}\n`);
  return {
    onEvent: (event) => {
      if (event.type === "start") every = Math.max(1, Math.floor((event.totalSteps - event.startStep) / 100));
      if (event.type === "step" && event.step % every !== 0 && event.step !== event.totalSteps) return;
      if (event.type === "checkpoint") line({ type: "checkpoint", ...event.record });
      else if (event.type === "epoch") line({ type: "epoch", ...event.metrics });
      else line(event);
    },
    stop: () => {},
  };
}

function progressBarReporter(): Reporter {
  const bars = new MultiBar(
    {
      format:
        "train |{bar}| {value}/{total} steps | epoch {epoch} | loss {loss} | {rate} steps/s | eta {eta_formatted}",
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
  let bar: ReturnType<MultiBar["create"]> | undefined;
  const pct = (v: number | null) => (v === null ? "-" : `${(v * 100).toFixed(2)}%`);
  return {
    onEvent: (event) => {
      if (event.type === "start") {
        bar = bars.create(event.totalSteps, event.startStep, { epoch: "-", loss: "-", rate: "-" });
      } else if (event.type === "step") {
        bar?.update(event.step, {
          epoch: event.epoch,
          loss: event.loss.toFixed(4),
          rate: event.stepsPerSecond.toFixed(1),
        });
      } else if (event.type === "epoch") {
        const m = event.metrics;
        const validation =
          m.val_loss === null ? "" : ` | val loss ${m.val_loss.toFixed(4)} acc ${pct(m.val_accuracy)}`;
        bars.log(
          `epoch ${m.epoch}: train loss ${m.train_loss.toFixed(4)} acc ${pct(m.train_accuracy)}${validation}\n`,
        );
      }
    },
    stop: () => bars.stop(),
  };
}

function summary(result: TrainResult, out: string): string {
  const last = result.metrics.epochs.at(-1);
  const accuracy = last?.val_accuracy ?? last?.train_accuracy;
  return [
    `wrote ${out}`,
    `${result.metrics.total_steps} steps at ${result.metrics.steps_per_second.toFixed(1)} steps/s`,
    accuracy === null || accuracy === undefined ? "" : `accuracy ${(accuracy * 100).toFixed(2)}%`,
    `final checkpoint ${result.finalSha256.slice(0, 16)}…, merkle root ${result.merkleRoot.slice(0, 16)}…`,
  ]
    .filter(Boolean)
    .join(", ");
}

async function runTrain(flags: TrainFlags): Promise<void> {
  const reporter = process.stdout.isTTY ? progressBarReporter() : jsonLinesReporter();
  // Ctrl-C stops between steps; the checkpoints already written stay valid for --resume.
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once("SIGINT", abort);
  process.once("SIGTERM", abort);
  try {
    const result = await train({
      model: readInput(flags.model, "--model"),
      dataset: { bytes: readInput(flags.data, "--data"), fileName: basename(flags.data) },
      spec: readSpec(flags.spec),
      checkpointDir: flags.checkpointDir ?? flags.resume,
      ...(flags.resume ? { resume: { dir: flags.resume } } : {}),
      onEvent: reporter.onEvent,
      signal: controller.signal,
      ...(flags.threads === undefined ? {} : { threads: Number(flags.threads) }),
    });
    reporter.stop();
    writeFileSync(flags.out, result.model);
    if (flags.metrics) writeFileSync(flags.metrics, `${JSON.stringify(result.metrics, null, 2)}\n`);
    const done = {
      type: "done",
      out: flags.out,
      final_sha256: result.finalSha256,
      merkle_root: result.merkleRoot,
    };
    if (process.stdout.isTTY) console.log(summary(result, flags.out));
    else process.stdout.write(`${JSON.stringify(done)}\n`);
  } finally {
    reporter.stop();
    process.off("SIGINT", abort);
    process.off("SIGTERM", abort);
  }
}

export function registerTrainCommand(program: Command): void {
  program
    .command("train")
    .description("Train an ONNX model locally (no network, no database) and write the trained model")
    .requiredOption("--model <file>", "ONNX model as exported by torch.onnx.export (opset 13-21)")
    .requiredOption("--data <file>", "dataset: .safetensors, .npz, .npy or .csv")
    .requiredOption("--spec <file>", "training spec JSON (worker-runtime/train/training-spec.schema.json)")
    .requiredOption("--out <file>", "where to write the trained ONNX model")
    .option("--checkpoint-dir <dir>", "write checkpoints and manifest.json here")
    .option("--resume <dir>", "continue from the latest checkpoint in this directory")
    .option("--metrics <file>", "write per-step and per-epoch metrics as JSON")
    .option(
      "--threads <n>",
      "onnxruntime intra-op threads (default 1); recorded in the determinism profile, results are bit-identical for any n",
    )
    .action(async (flags: TrainFlags) => {
      try {
        await runTrain(flags);
      } catch (error) {
        fail(error);
      }
    });
}
