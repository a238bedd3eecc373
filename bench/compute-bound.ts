// The benchmarks' compute-bound model: an MLP 784-512-512-10 at batch 128, whose step is almost
// all GEMM, with random data, built here so no fixture file has to hold it.
import { ModelBuilder, seededRandom } from "../worker-runtime/autodiff/index.ts";
import type { DatasetSource } from "../worker-runtime/train/run-setup.ts";

export interface Trainable {
  model: Uint8Array;
  dataset: DatasetSource;
  spec: Record<string, unknown>;
}

/** The compute-bound model's layer widths and batch size (bench/train_torch.py's SGEMM uses them too). */
export const WIDTHS = [784, 512, 512, 10];
export const BATCH = 128;

function safetensors(
  tensors: Record<string, { dtype: "F32" | "I64"; shape: number[]; data: ArrayBufferView }>,
) {
  let offset = 0;
  const header: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(
    JSON.stringify(header).padEnd(8 * Math.ceil(JSON.stringify(header).length / 8)),
  );
  const bytes = new Uint8Array(8 + json.length + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    bytes.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return bytes;
}

/** The momentum bench:train reports beside plain SGD (and what the other benches train with). */
export const MOMENTUM = 0.9;

/**
 * The compute-bound MLP with PyTorch's default initialization scale, on `samples` random samples,
 * trained by SGD with `momentum` (0: plain SGD, the products and the minimum update).
 */
export function computeBound(samples = 1024, momentum = MOMENTUM): Trainable {
  return denseMlp({ widths: WIDTHS, batch: BATCH, samples, momentum });
}

/**
 * A ReLU MLP of `widths` (input first, classes last) with PyTorch's default initialization scale,
 * trained by SGD with `momentum` for one epoch of `samples` random samples in batches of `batch`
 * (tests use small ones).
 */
export function denseMlp({
  widths,
  batch,
  samples,
  momentum = MOMENTUM,
}: {
  widths: number[];
  batch: number;
  samples: number;
  momentum?: number;
}): Trainable {
  const random = seededRandom(7);
  const m = new ModelBuilder();
  let h = m.input("input", "float32", ["batch", widths[0]!]);
  for (let i = 1; i < widths.length; i++) {
    const bound = 1 / Math.sqrt(widths[i - 1]!);
    const weight = m.random(`fc${i}.weight`, "float32", [widths[i]!, widths[i - 1]!], random, bound);
    h = m.op("Gemm", [h, weight, m.random(`fc${i}.bias`, "float32", [widths[i]!], random, bound)], {
      transB: 1,
    });
    if (i < widths.length - 1) h = m.op("Relu", [h]);
  }
  m.output(h, "float32", ["batch", widths.at(-1)!]);
  const x = Float32Array.from({ length: samples * widths[0]! }, () => random() * 2 - 1);
  const y = BigInt64Array.from({ length: samples }, () => BigInt(Math.floor(random() * widths.at(-1)!)));
  const bytes = safetensors({
    x: { dtype: "F32", shape: [samples, widths[0]!], data: x },
    y: { dtype: "I64", shape: [samples], data: y },
  });
  const spec = {
    inputs: { input: "x" },
    target: "y",
    output: h,
    loss: { type: "cross_entropy" },
    batch_size: batch,
    optimizer: { type: "sgd", lr: 0.01, momentum },
    drop_last: true,
    epochs: 1,
    checkpoint_every: 1_000_000,
  };
  return { model: m.bytes(), dataset: { bytes, fileName: "compute.safetensors" }, spec };
}
