// GridSample (F.grid_sample): the gradient of a 4-D input sampled at a grid of points, bilinear or
// nearest, with zeros or border padding, as PyTorch's grid_sampler_2d_backward computes it. The
// input's gradient is dy scatter-added to the up to four pixels each output read, with the weights
// it read them with; the grid's is dy times the rate at which the interpolated value changes with
// the point, which is 0 for nearest and, with border padding, where the point was clamped.
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import { OnnxError } from "../onnx/errors.ts";
import type { GraphNode } from "../onnx/model.ts";
import type { GradientContext, GradientRule } from "./gradient-context.ts";

/** What the rule does not cover, for unsupportedOperators; undefined when it does. */
export function gridSampleRestriction(node: GraphNode): string | undefined {
  const mode = node.attrs.string("mode", "bilinear");
  if (!["bilinear", "linear", "nearest"].includes(mode)) return `mode=${mode}`;
  const padding = node.attrs.string("padding_mode", "zeros");
  return ["zeros", "border"].includes(padding) ? undefined : `padding_mode=${padding}`;
}

/** One axis of the sampling: the pixel coordinate of every point, and d(coordinate)/d(grid value). */
interface Axis {
  coordinate: string;
  rate: string;
  size: number;
}

/**
 * The grid's values along one axis (0: x, the width; 1: y, the height) as pixel coordinates: the
 * unnormalization of PyTorch and onnxruntime, then border padding's clamp (rate 0 where it clamps).
 */
function axisOf(c: GradientContext, along: 0 | 1, size: number): Axis {
  const { g } = c;
  const values = g.op("Gather", [c.x(1), g.ints([along])], { axis: 3 });
  const value = g.op("Squeeze", [values, g.ints([3])]);
  const corners = c.node.attrs.int("align_corners", 0) !== 0;
  // align_corners: (v + 1) / 2 · (size - 1); otherwise ((v + 1) · size - 1) / 2.
  const scale = corners ? (size - 1) / 2 : size / 2;
  const pixel = g.add(g.mul(value, c.scalar(scale)), c.scalar((size - 1) / 2));
  if (c.node.attrs.string("padding_mode", "zeros") !== "border") {
    return { coordinate: pixel, rate: c.scalar(scale), size };
  }
  const inside = g.and(g.gt(pixel, c.scalar(0)), g.lt(pixel, c.scalar(size - 1)));
  return {
    coordinate: g.op("Clip", [pixel, c.scalar(0), c.scalar(size - 1)]),
    rate: g.mul(g.cast(inside, c.dtype), c.scalar(scale)),
    size,
  };
}

export const gridSample: GradientRule = (c) => {
  const { g } = c;
  const restricted = gridSampleRestriction(c.node);
  const shape = c.xInfo(0).shape;
  const [height, width] = [shape[2], shape[3]];
  if (
    restricted !== undefined ||
    shape.length !== 4 ||
    typeof height !== "number" ||
    typeof width !== "number"
  ) {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      `GridSample trains on a 4-D input of known height and width, bilinear or nearest, zeros or border padding${restricted ? `; got ${restricted}` : ""}`,
      c.node.name,
    );
  }
  const x = axisOf(c, 0, width);
  const y = axisOf(c, 1, height);
  // Every point's values as [N, 1, Ho·Wo], to broadcast over the channels of [N, C, Ho·Wo].
  const flat = (t: string) => g.reshape(t, g.ints([0, 1, -1]));
  const dy = g.reshape(c.dy0, g.ints([0, 0, -1]));
  const pixels = g.reshape(c.x(0), g.ints([0, 0, height * width]));
  const channels = g.op("Shape", [dy]);
  /** The pixel at (column, row) of every point: its flat index (0 outside) and whether it is in the image. */
  const tap = (column: string, row: string) => {
    const inside = g.and(
      g.and(
        g.op("GreaterOrEqual", [column, c.scalar(0)]),
        g.op("LessOrEqual", [column, c.scalar(width - 1)]),
      ),
      g.and(g.op("GreaterOrEqual", [row, c.scalar(0)]), g.op("LessOrEqual", [row, c.scalar(height - 1)])),
    );
    // A point outside the image, or NaN or infinite once training diverges, reads pixel 0 with
    // weight 0: onnxruntime refuses an index outside the data mid-run.
    const at = g.where(inside, g.add(g.mul(row, c.scalar(width)), column), c.scalar(0));
    const index = g.cast(at, "int64");
    return { index: g.expand(flat(index), channels), inside: flat(inside) };
  };
  const scatter = (into: string, index: string, update: string) =>
    g.op("ScatterElements", [into, index, update], { axis: 2, reduction: "add" });
  const zeros = g.mul(pixels, c.scalar(0));
  // Selections, not products: a point's weights are NaN when the point is, and NaN · 0 is NaN.
  const only = (inside: string, value: string) => g.where(inside, value, c.scalar(0));
  const backToGrid = (rateX: string, rateY: string) => {
    // Summed over the channels, back to [N, Ho, Wo], times d(coordinate)/d(grid value).
    const perPoint = (t: string, axis: Axis) =>
      g.unsqueeze(
        g.mul(g.reshape(g.reduceSum(t, [1], false), g.op("Shape", [axis.coordinate])), axis.rate),
        [3],
      );
    return g.op("Concat", [perPoint(rateX, x), perPoint(rateY, y)], { axis: 3 });
  };

  if (c.node.attrs.string("mode", "bilinear") === "nearest") {
    // Round half to even, as both PyTorch and onnxruntime pick the nearest pixel.
    const { index, inside } = tap(g.op("Round", [x.coordinate]), g.op("Round", [y.coordinate]));
    const input = c.ifWants(0, () =>
      g.reshape(scatter(zeros, index, only(inside, dy)), g.shapeOf(c.x(0), shape)),
    );
    // No gradient reaches the grid: zeros, even at a point that is not finite.
    const value = tensorFromNumbers(c.dtype, [1], [0]);
    return [input, c.ifWants(1, () => g.op("ConstantOfShape", [g.op("Shape", [c.x(1)])], { value }))];
  }

  const left = g.op("Floor", [x.coordinate]);
  const top = g.op("Floor", [y.coordinate]);
  const right = g.add(left, c.scalar(1));
  const bottom = g.add(top, c.scalar(1));
  // Weights of the far and near pixel along each axis.
  const towardRight = flat(g.sub(x.coordinate, left));
  const towardLeft = flat(g.sub(right, x.coordinate));
  const towardBottom = flat(g.sub(y.coordinate, top));
  const towardTop = flat(g.sub(bottom, y.coordinate));
  const corners = [
    { ...tap(left, top), wx: towardLeft, wy: towardTop },
    { ...tap(right, top), wx: towardRight, wy: towardTop },
    { ...tap(left, bottom), wx: towardLeft, wy: towardBottom },
    { ...tap(right, bottom), wx: towardRight, wy: towardBottom },
  ];
  const input = c.ifWants(0, () => {
    let grad = zeros;
    for (const k of corners) grad = scatter(grad, k.index, g.mul(dy, only(k.inside, g.mul(k.wx, k.wy))));
    return g.reshape(grad, g.shapeOf(c.x(0), shape));
  });
  const grid = c.ifWants(1, () => {
    // d out / d x = Σ corners ± value · wy (+ on the right, - on the left), and likewise for y.
    const value = (k: (typeof corners)[number]) =>
      only(k.inside, g.op("GatherElements", [pixels, k.index], { axis: 2 }));
    const [topLeft, topRight, bottomLeft, bottomRight] = corners.map(value) as [
      string,
      string,
      string,
      string,
    ];
    const alongX = g.add(
      g.mul(g.sub(topRight, topLeft), towardTop),
      g.mul(g.sub(bottomRight, bottomLeft), towardBottom),
    );
    const alongY = g.add(
      g.mul(g.sub(bottomLeft, topLeft), towardLeft),
      g.mul(g.sub(bottomRight, topRight), towardRight),
    );
    // A point none of whose taps is in the image (outside, or not finite) moves nothing.
    const sampled = corners.map((k) => k.inside).reduce((a, b) => g.op("Or", [a, b]));
    return backToGrid(only(sampled, g.mul(dy, alongX)), only(sampled, g.mul(dy, alongY)));
  });
  return [input, grid];
};
