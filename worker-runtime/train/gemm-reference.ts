// onnxruntime's own SGEMM (MLAS) on the matrix products of one training step of an MLP, alone:
// bench:train's second reference for the compute-bound model, beside numpy's OpenBLAS, so that
// the bound it compares the step with is the faster library on the step's own products. The
// products run in a Loop, as the trainer's steps do, so a run's fixed cost and its copies in and
// out are spread over the steps as they are in training.
import ort from "onnxruntime-node";
import { ModelBuilder } from "../autodiff/index.ts";
import { onnx } from "../onnx/proto.ts";
import { sessionOptions } from "./profile.ts";

/** A product of one step: C = op(A)·op(B), operands by name. */
interface Product {
  a: string;
  b: string;
  transA: 0 | 1;
  transB: 0 | 1;
  dims: [number, number];
}

/**
 * The products of a step of an MLP with layer `widths` at `batch` rows, with the operand layout
 * and transposes of the step graph: the forward X·Wᵀ, the weight gradient dYᵀ·X and the input
 * gradient dY·W past the first layer. Activations h<i> [batch, widths[i]], weights w<i>.
 */
function products(batch: number, widths: readonly number[]): Product[] {
  return widths.slice(1).flatMap((n, i): Product[] => {
    const k = widths[i]!;
    const [x, y, w] = [`h${i}`, `h${i + 1}`, `w${i + 1}`];
    return [
      { a: x, b: w, transA: 0, transB: 1, dims: [batch, n] },
      { a: y, b: x, transA: 1, transB: 0, dims: [n, k] },
      ...(i > 0
        ? [{ a: y, b: w, transA: 0 as const, transB: 0 as const, dims: [batch, k] as [number, number] }]
        : []),
    ];
  });
}

/** Multiply-adds times two of those products. */
export function productFlops(batch: number, widths: readonly number[]): number {
  return widths.slice(1).reduce((sum, n, i) => sum + 2 * batch * widths[i]! * n * (i === 0 ? 2 : 3), 0);
}

function loopModel(batch: number, widths: readonly number[]): Uint8Array {
  const all = products(batch, widths);
  const body = new ModelBuilder();
  body.input("iteration", "int64", []);
  const condition = body.input("condition", "bool", []);
  for (const [j, p] of all.entries()) body.input(`p${j}`, "float32", p.dims);
  body.output(body.op("Identity", [condition]), "bool", []);
  for (const p of all) {
    body.output(body.op("Gemm", [p.a, p.b], { transA: p.transA, transB: p.transB }), "float32", p.dims);
  }
  const m = new ModelBuilder();
  for (const [i, w] of widths.entries()) m.input(`h${i}`, "float32", [batch, w]);
  for (const [i, n] of widths.slice(1).entries()) m.input(`w${i + 1}`, "float32", [n, widths[i]!]);
  const trips = m.input("trips", "int64", []);
  const initial = all.map((p, j) => m.input(`p${j}_initial`, "float32", p.dims));
  const graph = onnx.ModelProto.decode(body.bytes()).graph!;
  const outputs = m.node("Loop", [trips, "", ...initial], { body: { graph } }, all.length);
  for (const [j, p] of all.entries()) m.output(outputs[j]!, "float32", p.dims);
  return m.bytes();
}

export interface GemmReference {
  /** `steps` steps' products: steps per second by the clock and per CPU-second of the process. */
  burst(steps: number): Promise<{ wall: number; cpu: number }>;
  release(): Promise<void>;
}

/**
 * The products of an MLP step on one onnxruntime session with `threads` intra-op threads, the pool
 * threads spinning through a run when `spinning` (as the trainer's do on a machine with CPU to spare).
 */
export async function gemmReference(
  batch: number,
  widths: readonly number[],
  threads = 1,
  { spinning = false }: { spinning?: boolean } = {},
): Promise<GemmReference> {
  const session = await ort.InferenceSession.create(
    loopModel(batch, widths),
    sessionOptions(threads, { spinning }),
  );
  const random = (dims: number[]) =>
    new ort.Tensor(
      "float32",
      Float32Array.from({ length: dims[0]! * dims[1]! }, (_, i) => ((i * 7919) % 2003) / 1001 - 1),
      dims,
    );
  const feeds: Record<string, ort.Tensor> = {};
  widths.forEach((w, i) => {
    feeds[`h${i}`] = random([batch, w]);
  });
  widths.slice(1).forEach((n, i) => {
    feeds[`w${i + 1}`] = random([n, widths[i]!]);
  });
  products(batch, widths).forEach((p, j) => {
    feeds[`p${j}_initial`] = new ort.Tensor("float32", new Float32Array(p.dims[0] * p.dims[1]), p.dims);
  });
  return {
    async burst(steps) {
      const started = performance.now();
      const cpu = process.cpuUsage();
      await session.run({ ...feeds, trips: new ort.Tensor("int64", BigInt64Array.of(BigInt(steps)), []) });
      const used = process.cpuUsage(cpu);
      return {
        wall: steps / ((performance.now() - started) / 1000),
        cpu: steps / ((used.user + used.system) / 1e6),
      };
    },
    release: () => session.release(),
  };
}
