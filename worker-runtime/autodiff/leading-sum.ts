// The sum of a gradient over its leading axes (a bias's gradient over the batch) in the form
// onnxruntime runs fastest at the graph's thread count. A float32 sum of up to GEMM_DEPTH rows
// into a vector is a Gemm of a row of ones (gemm-forms.ts, rowSumInGemm) at every thread count: a
// [128, 512] bias gradient cost nothing measurable on one thread and 5 µs on two, against
// ReduceSum's 2 and 49 (90 with the padding below, in the compute-bound step). Otherwise
// ReduceSum over the rows of an [R, N] matrix adds the rows one after another into a copy of the
// first while R > 16·threads and max(R, N) > 256·threads (onnxruntime 1.30, reduction_ops.cc,
// "kRK"); otherwise it sums each column with a scalar strided loop, in the same order but about
// ten times slower: [128, 512] took 22 µs on one thread and 174 µs on two. Padding the columns
// past the threshold keeps the fast path: the same additions in the same order, so the same bits.
// (The fast path starts from the first row, the slow one from +0: they differ for a column of -0,
// so only a sum one thread runs on the fast path is padded onto it.)
import type { Dim } from "../onnx/model.ts";
import { GEMM_DEPTH, rowSumInGemm } from "./gemm-forms.ts";
import type { GraphBuilder } from "./graph-builder.ts";

const ROWS_PER_THREAD = 16;
const SIZE_PER_THREAD = 256;

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * `name` (of `shape`) summed over its first `lead` axes, without kept dimensions. A sum made by a
 * Gemm of ones is recorded in `g.rowSums`.
 */
export function sumLeadingAxes(
  g: GraphBuilder,
  name: string,
  shape: readonly Dim[],
  lead: number,
  dtype: "float32" | "float64",
): string {
  const axes = Array.from({ length: lead }, (_, i) => i);
  const plain = () => g.reduceSum(name, axes, false);
  if (!shape.every((d) => typeof d === "number")) return plain();
  const dims = shape as number[];
  const rows = product(dims.slice(0, lead));
  const columns = product(dims.slice(lead));
  if (dtype === "float32" && dims.length - lead === 1 && rows <= GEMM_DEPTH) {
    const matrix = lead === 1 ? name : g.reshape(name, g.ints([rows, columns]));
    const rowSum = rowSumInGemm(g, matrix, rows);
    const gemm = g.nodes.at(-1)!;
    const sum = g.reshape(rowSum, g.ints([columns]));
    g.rowSums.set(sum, gemm);
    return sum;
  }
  // One thread already takes the fast path where it can; padding would only add a copy.
  if (g.threads === 1) return plain();
  const fast = (width: number, threads: number) =>
    rows > ROWS_PER_THREAD * threads && Math.max(rows, width) > SIZE_PER_THREAD * threads;
  const wide = SIZE_PER_THREAD * g.threads + 1;
  // Only onto the path one thread takes: the two paths differ in the sign of an all -0 column.
  if (fast(columns, g.threads) || !fast(columns, 1) || !fast(wide, g.threads)) return plain();
  // The sum keeps the name one thread gives it and the layout nodes are named after it, so the
  // pinpoint game sees one position, the sum, at every thread count (pinpoint-graphs.ts).
  const sum = g.freshName("ReduceSum");
  const helper = (role: string, opType: string, inputs: string[]) =>
    g.layoutHelper(sum, role, opType, inputs);
  const matrix =
    lead === 1 && dims.length === 2 ? name : helper("rows", "Reshape", [name, g.ints([rows, columns])]);
  const padded = helper("pad", "Pad", [matrix, g.ints([0, 0, 0, wide - columns])]);
  g.addNode({
    name: sum,
    opType: "ReduceSum",
    input: [padded, g.ints([0])],
    output: [sum],
    attributes: { keepdims: 0 },
  });
  const sums = helper("slice", "Slice", [sum, g.ints([0]), g.ints([columns])]);
  return dims.length - lead === 1 ? sums : helper("shape", "Reshape", [sums, g.ints(dims.slice(lead))]);
}
