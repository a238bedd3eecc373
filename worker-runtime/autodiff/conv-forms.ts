// The weight gradient of a convolution in the form onnxruntime runs fastest on one thread for the
// small images of the fixtures and zoo (onnxruntime 1.30). dW[m, c, k] sums dy[n, m, o] times the
// padded input x[n, c, o·stride + k·dilation] over the batch n and the output positions o: one
// matrix product of the input's windows (im2col) by the output gradient. onnxruntime's Conv, given
// the batch as channels (the form below for groups), does the same sums as one small product per
// channel with nine columns (a 3×3 kernel), about 12 GFLOP/s; one Gather lays all the windows out
// and one Gemm does the sums: the CNN fixture's second convolution took 64 µs instead of 133.
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import type { Dim } from "../onnx/model.ts";
import type { GraphBuilder } from "./graph-builder.ts";

export interface ConvGeometry {
  strides: number[];
  dilations: number[];
  pads: number[];
}

/** A convolution from `input` ([N, C, ...spatial]) to an output whose gradient is `outputGrad` ([N, M, ...spatial]). */
export interface ConvWeightGradient {
  input: string;
  inputShape: readonly Dim[];
  outputGrad: string;
  outputShape: readonly Dim[];
  group: number;
  kernel: number[];
  geometry: ConvGeometry;
}

/** dW ([M, C / group, ...kernel]) of the convolution `conv`. */
export function convWeightGradient(g: GraphBuilder, conv: ConvWeightGradient): string {
  const windows = conv.group === 1 ? windowIndices(conv) : undefined;
  return windows ? unfoldedProduct(g, conv, windows) : groupedConvolutions(g, conv);
}

/**
 * The most elements the windows may hold (16 MB of float32); past it the convolution form, which
 * lays out one image's windows at a time, keeps the memory of a large batch of large images.
 */
const MAX_WINDOW_ELEMENTS = 1 << 22;

const staticDims = (shape: readonly Dim[]): number[] | undefined =>
  shape.every((d) => typeof d === "number") ? (shape as number[]) : undefined;

/**
 * For each kernel position k (row-major) and output position o (row-major), the flat index into
 * the padded input image of the element dW[·, ·, k] multiplies with dy[·, ·, o]; undefined where
 * this form does not apply (dynamic sizes, negative pads, windows past the padded input, windows
 * too many for memory).
 */
function windowIndices(conv: ConvWeightGradient): { padded: number[]; indices: number[] } | undefined {
  const inDims = staticDims(conv.inputShape);
  const outDims = staticDims(conv.outputShape);
  if (!inDims || !outDims) return undefined;
  const { strides, dilations, pads } = conv.geometry;
  const rank = conv.kernel.length;
  if (pads.some((p) => p < 0)) return undefined;
  const padded = inDims.slice(2).map((size, d) => size + pads[d]! + pads[d + rank]!);
  const outSpatial = outDims.slice(2);
  const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
  if (inDims[0]! * inDims[1]! * product(conv.kernel) * product(outSpatial) > MAX_WINDOW_ELEMENTS)
    return undefined;
  for (let d = 0; d < rank; d++) {
    if ((outSpatial[d]! - 1) * strides[d]! + (conv.kernel[d]! - 1) * dilations[d]! >= padded[d]!)
      return undefined;
  }
  const positions = (sizes: readonly number[]) => {
    const all: number[][] = [[]];
    for (const size of sizes) {
      const next: number[][] = [];
      for (const prefix of all) for (let i = 0; i < size; i++) next.push([...prefix, i]);
      all.splice(0, all.length, ...next);
    }
    return all;
  };
  const indices: number[] = [];
  for (const k of positions(conv.kernel)) {
    for (const o of positions(outSpatial)) {
      let flat = 0;
      for (let d = 0; d < rank; d++) flat = flat * padded[d]! + o[d]! * strides[d]! + k[d]! * dilations[d]!;
      indices.push(flat);
    }
  }
  return { padded, indices };
}

/**
 * The input, batch last ([C, ...spatial, N]) and padded, gathered into its windows [C·K, O·N], times
 * the output gradient batch last [M, O·N]: every row's sum in one Gemm. MLAS splits a product's
 * work among threads by rows when it has at least as many rows as columns, and then sums every
 * row the same way at any thread count; split by columns, it sizes its block of the inner
 * dimension from each thread's columns, and the bits change with the thread count. So the product
 * is taken with the longer side as rows (windows × gradient, then transposed, when C·K ≥ M).
 */
function unfoldedProduct(
  g: GraphBuilder,
  conv: ConvWeightGradient,
  { padded, indices }: { padded: number[]; indices: number[] },
): string {
  const rank = conv.kernel.length;
  const channels = conv.inputShape[1] as number;
  const outputChannels = conv.outputShape[1] as number;
  const kernelSize = conv.kernel.reduce((a, b) => a * b, 1);
  const outputSize = indices.length / kernelSize;
  const batchLast = [1, ...Array.from({ length: rank }, (_, i) => i + 2), 0];
  const { pads } = conv.geometry;
  const image = g.op("Pad", [
    g.transpose(conv.input, batchLast),
    g.ints([0, ...pads.slice(0, rank), 0, 0, ...pads.slice(rank), 0]),
  ]);
  const flatImage = g.reshape(image, g.ints([channels, padded.reduce((a, b) => a * b, 1), -1]));
  const gathered = g.op(
    "Gather",
    [flatImage, g.constant(tensorFromNumbers("int64", [kernelSize, outputSize], indices))],
    { axis: 1 },
  );
  const windows = g.reshape(gathered, g.ints([channels * kernelSize, -1]));
  const grad = g.reshape(g.transpose(conv.outputGrad, batchLast), g.ints([outputChannels, -1]));
  const rows = channels * kernelSize;
  const product =
    rows >= outputChannels
      ? // As a batch of one matrix: onnxruntime's optimiser would fold a plain matrix Transpose
        // into the Gemm (GemmTransposeFusion), turning the product back to the other orientation.
        g.transpose(
          g.reshape(g.op("Gemm", [windows, grad], { transB: 1 }), g.ints([1, rows, outputChannels])),
          [0, 2, 1],
        )
      : g.op("Gemm", [grad, windows], { transB: 1 });
  return g.reshape(product, g.ints([outputChannels, channels, ...conv.kernel]));
}

/**
 * The weight gradient as a convolution of the input (batch as channels) by the output gradient
 * (batch as input channels), strides and dilations swapped, cropped to the kernel; groups one by
 * one. The form for grouped convolutions, whose one-Gemm product would need a product per group.
 */
function groupedConvolutions(g: GraphBuilder, conv: ConvWeightGradient): string {
  const { kernel, geometry, group } = conv;
  const spatialAxes = kernel.map((_, i) => i + 2);
  const batchFirst = [1, 0, ...spatialAxes];
  const oneGroup = (inputPart: string, gradPart: string) => {
    const full = g.op("Conv", [g.transpose(inputPart, batchFirst), g.transpose(gradPart, batchFirst)], {
      strides: geometry.dilations,
      dilations: geometry.strides,
      pads: geometry.pads,
    });
    const cropped = g.op("Slice", [full, g.ints(kernel.map(() => 0)), g.ints(kernel), g.ints(spatialAxes)]);
    return g.transpose(cropped, batchFirst);
  };
  if (group === 1) return oneGroup(conv.input, conv.outputGrad);
  const split = (name: string, channels: Dim) =>
    g.emit("Split", [name, g.ints(new Array(group).fill((channels as number) / group))], { axis: 1 }, group);
  const inputs = split(conv.input, conv.inputShape[1]!);
  const grads = split(conv.outputGrad, conv.outputShape[1]!);
  return g.op(
    "Concat",
    inputs.map((part, i) => oneGroup(part, grads[i]!)),
    { axis: 0 },
  );
}
