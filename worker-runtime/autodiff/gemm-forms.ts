// The matrix products and batch sums autodiff emits, in the form onnxruntime's MLAS runs fastest
// for the same bits (onnxruntime 1.30, onnxruntime/core/mlas/lib/sgemm.cpp).
import { type AttributeValue, attribute } from "../onnx/attributes.ts";
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import type { Dim } from "../onnx/model.ts";
import type { INodeProto } from "../onnx/proto.ts";
import type { GraphBuilder } from "./graph-builder.ts";

// MLAS packs B in panels of 128 columns by 128 rows of the inner dimension K; for a small K it
// widens the panel instead (K = 32: 512 columns). With op(A) = Aᵀ it transposes the A block into a
// buffer again for every panel, with a scalar loop: a weight gradient dYᵀ·X of the compute-bound
// MLP (N = 784 columns) transposes dY seven times.
const PANEL = 128;

/** How many column panels MLAS packs for a product with N columns and inner dimension K. */
function columnPanels(n: number, k: number): number {
  let width = PANEL;
  let depth = PANEL;
  if (n >= k) {
    while (depth / 2 >= k) {
      width *= 2;
      depth /= 2;
    }
  }
  return Math.ceil(n / width);
}

// Below these, the Transpose node costs more than the transposes MLAS repeats.
const MIN_PANELS = 3;
const MIN_TRANSPOSED = 4096;

const known = (shape: readonly Dim[]): shape is readonly number[] =>
  shape.length === 2 && shape.every((d) => typeof d === "number");

/**
 * Gemm(a, b) with `attributes` (transA, transB, alpha): where MLAS would transpose op(A) = aᵀ
 * three times or more, a Transpose node does it once and the Gemm reads it as is. The kernel
 * reads the same values in the same order either way, so the bits are the same (measured, and
 * checked with 1, 2 and 4 threads in threads.test.ts); the weight gradients of the compute-bound
 * MLP took about 10% less time.
 */
export function gemm(
  g: GraphBuilder,
  a: string,
  b: string,
  attributes: Record<string, AttributeValue>,
  shapes: { a: readonly Dim[]; b: readonly Dim[] },
): string {
  const transA = attributes.transA === 1;
  const transB = attributes.transB === 1;
  if (transA && known(shapes.a) && known(shapes.b)) {
    const [k, m] = shapes.a as [number, number];
    const n = transB ? shapes.b[0]! : shapes.b[1]!;
    if (columnPanels(n, k) >= MIN_PANELS && m * k >= MIN_TRANSPOSED) {
      // As a batch of one matrix: onnxruntime's optimiser folds a Transpose of a matrix that only
      // Gemms read back into transA (GemmTransposeFusion), and the saved graph is its optimisation.
      const turned = g.transpose(g.reshape(a, g.ints([1, k, m])), [0, 2, 1]);
      return g.op("Gemm", [g.reshape(turned, g.ints([m, k])), b], { ...attributes, transA: 0 });
    }
  }
  return g.op("Gemm", [a, b], attributes);
}

/** MLAS's block of the inner dimension: up to this many rows, a product sums each column in one pass. */
export const GEMM_DEPTH = PANEL;

/**
 * The sum of the rows of `matrix` ([rows, columns], rows ≤ GEMM_DEPTH) as one Gemm of a row of
 * ones: [1, columns]. MLAS sums each column from +0 in row order and adds the sum to C:
 * ReduceSum's additions (the rows added one after another; leading-sum.ts). Starting from +0, a
 * column of -0 sums to +0 (as PyTorch's sum does), where ReduceSum's fast path, which starts from
 * the first row, keeps -0. C is +0 with beta ½: with beta 0 or 1 MLAS runs a product of one row
 * through another kernel, whose additions differ from ReduceSum's in the last bit. Every thread
 * count splits the columns, never a column's sum (threads.test.ts), with no Pad and no slow path
 * at any thread count. accumulateInGemm turns it into beta·c + the sum.
 */
export function rowSumInGemm(g: GraphBuilder, matrix: string, rows: number): string {
  const ones = g.constant(tensorFromNumbers("float32", [1, rows], new Array(rows).fill(1)));
  return g.op("Gemm", [ones, matrix, g.scalar(0, "float32")], { beta: { float: 0.5 } });
}

/**
 * Makes `gemm` (A·B, with no C or rowSumInGemm's +0) compute beta·c + A·B: MLAS scales C by beta,
 * then adds the product block by block of the inner dimension, which for at most GEMM_DEPTH rows
 * is Add(Mul(c, beta), A·B) bit for bit (a momentum buffer, which starts at +0, is never -0).
 */
export function accumulateInGemm(gemm: INodeProto, c: string, beta: number): void {
  gemm.input = [gemm.input![0]!, gemm.input![1]!, c];
  gemm.attribute = [
    ...(gemm.attribute ?? []).filter((a) => a.name !== "beta"),
    attribute("beta", { float: beta }),
  ];
}
