// A fresh process runs the training and replay code before V8 has optimised it: its first two
// replays of a 64-step segment of the MLP fixture measured 17–28 ms of CPU each, 9–11 ms from the
// third on, and a worker's first run pays the same on its first checkpoints. That is a constant
// per process, like a run's set-up, not a cost per step; a node pays it once at start (about
// 150 ms of CPU), training and replaying a small model of its own, big enough for V8 to optimise
// the loops over samples and tensors, so that what its duties report is what their steps cost
// (worker-runtime/node/compute-meter.ts). After it, the first replay measured 11 ms.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSafetensors } from "../../protocol/safetensors-writer.ts";
import { ModelBuilder, seededRandom } from "../autodiff/index.ts";
import { CheckpointDir } from "./checkpoint-dir.ts";
import { replayTranscript } from "./replay.ts";
import { train } from "./trainer.ts";

const WIDTHS = [64, 32, 10];
const SAMPLES = 512;
const SEGMENT = 32;
// Measured: the third replay of a fresh process costs what every later one does.
const REPLAYS = 3;

/** A two-layer MLP on random data: every code path an MLP's training and replay take. */
function tinyRun() {
  const random = seededRandom(1);
  const m = new ModelBuilder();
  let h = m.input("input", "float32", ["batch", WIDTHS[0]!]);
  for (let i = 1; i < WIDTHS.length; i++) {
    const weight = m.random(`fc${i}.weight`, "float32", [WIDTHS[i]!, WIDTHS[i - 1]!], random, 0.3);
    h = m.op("Gemm", [h, weight, m.random(`fc${i}.bias`, "float32", [WIDTHS[i]!], random, 0.3)], {
      transB: 1,
    });
    if (i < WIDTHS.length - 1) h = m.op("Relu", [h]);
  }
  m.output(h, "float32", ["batch", WIDTHS.at(-1)!]);
  const x = Float32Array.from({ length: SAMPLES * WIDTHS[0]! }, () => random() * 2 - 1);
  const y = BigInt64Array.from({ length: SAMPLES }, () => BigInt(Math.floor(random() * WIDTHS.at(-1)!)));
  const bytes = (a: Float32Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const dataset = writeSafetensors([
    { name: "x", dtype: "F32", shape: [SAMPLES, WIDTHS[0]!], data: bytes(x) },
    { name: "y", dtype: "I64", shape: [SAMPLES], data: bytes(y) },
  ]);
  const spec = {
    inputs: { input: "x" },
    target: "y",
    output: h,
    loss: { type: "cross_entropy" },
    batch_size: 32,
    optimizer: { type: "sgd", lr: 0.05, momentum: 0.9 },
    max_steps: 2 * SEGMENT,
    checkpoint_every: SEGMENT,
  };
  return { model: m.bytes(), dataset: { bytes: dataset, fileName: "warm-up.safetensors" }, spec };
}

/** Trains the tiny model with checkpoints and replays its second segment with a transcript. */
export async function warmUp(threads: number): Promise<void> {
  const run = tinyRun();
  const dir = mkdtempSync(join(tmpdir(), "veritrain-warm-up-"));
  try {
    await train({ ...run, checkpointDir: dir, threads });
    const from = CheckpointDir.open(dir).read(SEGMENT).bytes;
    for (let i = 0; i < REPLAYS; i++) {
      await replayTranscript({ ...run, from, fromStep: SEGMENT, toStep: 2 * SEGMENT, stride: 8, threads });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
