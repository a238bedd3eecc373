import { tensorFromNumbers } from "../onnx/dtypes.ts";
import { OnnxError } from "../onnx/errors.ts";
import type { GraphNode } from "../onnx/model.ts";
import type { RewriteContext, TrainingRewrite } from "./training-mode.ts";

// LSTM, GRU and RNN as they train: unrolled over the (static) sequence length into MatMul, Add,
// Split and activations, whose gradients the table already has. onnxruntime's own kernels keep
// their per-step gates to themselves, so backpropagation through time needs the steps spelled
// out. Equations and gate orders are the ONNX specification's (LSTM: i, o, f, c; GRU: z, r, h).

const DEFAULT_ACTIVATIONS: Record<string, string[]> = {
  LSTM: ["Sigmoid", "Tanh", "Tanh"],
  GRU: ["Sigmoid", "Tanh"],
  RNN: ["Tanh"],
};
const ACTIVATIONS = new Set(["Sigmoid", "Tanh", "Relu"]);
const GATES: Record<string, number> = { LSTM: 4, GRU: 3, RNN: 1 };

/** What the unrolled form does not cover, for unsupportedOperators; undefined when it does. */
export function recurrentRestriction(node: GraphNode): string | undefined {
  if (node.opType === "LSTM" && node.inputs[7]) return "peepholes";
  if (node.attrs.has("clip")) return "clip";
  if (node.attrs.int("input_forget", 0) !== 0) return "input_forget";
  // onnxruntime has no batch-first recurrence, so evaluation could not run it.
  if (node.attrs.int("layout", 0) !== 0) return "layout=1";
  const unsupported = activationsOf(node).find((a) => !ACTIVATIONS.has(a));
  return unsupported === undefined ? undefined : `activation ${unsupported}`;
}

/** The activation functions of every direction, in order (the defaults repeated per direction). */
function activationsOf(node: GraphNode): string[] {
  const raw = node.attrs.raw("activations")?.strings;
  if (raw) return raw.map((s) => new TextDecoder().decode(s));
  const count = node.attrs.string("direction", "forward") === "bidirectional" ? 2 : 1;
  return Array.from({ length: count }, () => DEFAULT_ACTIVATIONS[node.opType]!).flat();
}

interface Direction {
  /** This direction's weights: W [G*H, I], R [G*H, H], B [2*G*H] (or absent). */
  index: number;
  reverse: boolean;
  activations: string[];
}

/** One recurrent cell step: (x W^T + Wb for this step, previous state) -> next state. */
type Cell = (input: string, state: { h: string; c?: string }) => { h: string; c?: string };

export const recurrent: TrainingRewrite = (c) => {
  const { g, node } = c;
  const restricted = recurrentRestriction(node);
  if (restricted !== undefined) {
    throw new OnnxError(
      "UNSUPPORTED_OPERATOR",
      `${node.opType} with ${restricted} cannot be trained`,
      node.name,
    );
  }
  const hidden = node.attrs.require(
    node.attrs.has("hidden_size") ? node.attrs.int("hidden_size", 0) : undefined,
    "hidden_size",
  );
  const direction = node.attrs.string("direction", "forward");
  const count = direction === "bidirectional" ? 2 : 1;
  const [x, w, r, b, lengths, initialH, initialC] = node.inputs;
  const xInfo = c.info(x!);
  const steps = xInfo.shape[0];
  if (typeof steps !== "number") {
    throw new OnnxError(
      "SHAPE_MISMATCH",
      `${node.opType} needs a static sequence length to train`,
      node.name,
    );
  }
  const dtype = xInfo.dtype;
  const perDirection = activationsOf(node).length / count;
  const directions: Direction[] = Array.from({ length: count }, (_, d) => ({
    index: d,
    reverse: direction === "reverse" || d === 1,
    activations: activationsOf(node).slice(d * perDirection, (d + 1) * perDirection),
  }));
  g.scoped(node.name, () => {
    const sequence = x!;
    const pick = (t: string, d: number) => g.op("Gather", [t, g.scalar(d, "int64")], { axis: 0 });
    // Zeros [batch, hidden] for a state the node is not given.
    const zeros = () => {
      const batch = g.op("Slice", [g.op("Shape", [sequence]), g.ints([1]), g.ints([2])]);
      const value = tensorFromNumbers(dtype, [1], [0]);
      return g.op("ConstantOfShape", [g.op("Concat", [batch, g.ints([hidden])], { axis: 0 })], { value });
    };
    // With sequence_lens (PyTorch's packed sequences), step t of a sequence no longer than t
    // keeps the state it had and outputs zeros, as onnxruntime does: a reverse direction then
    // starts at each sequence's own last step. Where selects, so a valid step's bits are the same.
    const validAt = new Map<number, string>();
    const valid = (t: number) => {
      let mask = validAt.get(t);
      if (!mask) {
        const step = g.scalar(t, c.info(lengths!).dtype);
        mask = g.unsqueeze(g.op("Less", [step, lengths!]), [1]);
        validAt.set(t, mask);
      }
      return mask;
    };
    const results = directions.map((dir) => {
      const gates = GATES[node.opType]!;
      const weights = g.transpose(pick(w!, dir.index), [1, 0]);
      const recurrence = g.transpose(pick(r!, dir.index), [1, 0]);
      const biases = b
        ? g.emit("Split", [pick(b, dir.index), g.ints([gates * hidden, gates * hidden])], { axis: 0 }, 2)
        : undefined;
      // GRU keeps R's bias apart: linear_before_reset multiplies it by the reset gate.
      const keepsRecurrentBias = node.opType === "GRU";
      let projected = g.op("MatMul", [sequence, weights]);
      if (biases)
        projected = g.add(projected, keepsRecurrentBias ? biases[0]! : g.add(biases[0]!, biases[1]!));
      const inputs =
        steps === 1
          ? [projected]
          : g.emit("Split", [projected, g.ints(new Array(steps).fill(1))], { axis: 0 }, steps);
      const cell = cellFor(c, dir, hidden, recurrence, keepsRecurrentBias ? biases?.[1] : undefined);
      let state = {
        h: initialH ? pick(initialH, dir.index) : zeros(),
        ...(node.opType === "LSTM" ? { c: initialC ? pick(initialC, dir.index) : zeros() } : {}),
      };
      const outputs: string[] = new Array(steps);
      for (let k = 0; k < steps; k++) {
        const t = dir.reverse ? steps - 1 - k : k;
        const next = cell(g.op("Squeeze", [inputs[t]!, g.ints([0])]), state);
        if (lengths) {
          const kept = valid(t);
          outputs[t] = g.unsqueeze(g.where(kept, next.h, g.scalar(0, dtype)), [0]);
          state = {
            h: g.where(kept, next.h, state.h),
            ...(next.c ? { c: g.where(kept, next.c, state.c!) } : {}),
          };
        } else {
          state = next;
          outputs[t] = g.unsqueeze(state.h, [0]);
        }
      }
      return { y: g.op("Concat", outputs, { axis: 0 }), last: state };
    });
    const [y, yH, yC] = node.outputs;
    const stack = (parts: string[], axis: number) =>
      parts.length === 1 ? parts[0]! : g.op("Concat", parts, { axis });
    const finish = (output: string | undefined, value: () => string) => {
      if (output)
        g.addNode({ name: `${node.name}/${output}`, opType: "Identity", input: [value()], output: [output] });
    };
    finish(y, () =>
      stack(
        results.map((d) => g.unsqueeze(d.y, [1])),
        1,
      ),
    );
    finish(yH, () =>
      stack(
        results.map((d) => g.unsqueeze(d.last.h, [0])),
        0,
      ),
    );
    finish(yC, () =>
      stack(
        results.map((d) => g.unsqueeze(d.last.c!, [0])),
        0,
      ),
    );
  });
};

function cellFor(
  c: RewriteContext,
  dir: Direction,
  hidden: number,
  recurrence: string,
  recurrentBias: string | undefined,
): Cell {
  const { g, node } = c;
  const [f, gAct, hAct] = dir.activations as [string, string, string];
  const act = (name: string, x: string) => g.op(name, [x]);
  const split = (t: string, n: number) =>
    g.emit("Split", [t, g.ints(new Array(n).fill(hidden))], { axis: 1 }, n);
  if (node.opType === "LSTM") {
    return (input, state) => {
      const [i, o, forget, candidate] = split(g.add(input, g.op("MatMul", [state.h, recurrence])), 4) as [
        string,
        string,
        string,
        string,
      ];
      const cell = g.add(g.mul(act(f, forget), state.c!), g.mul(act(f, i), act(gAct, candidate)));
      return { h: g.mul(act(f, o), act(hAct, cell)), c: cell };
    };
  }
  if (node.opType === "GRU") {
    const beforeReset = node.attrs.int("linear_before_reset", 0) !== 0;
    const [rz, rr, rh] = g.emit("Split", [recurrence, g.ints([hidden, hidden, hidden])], { axis: 1 }, 3) as [
      string,
      string,
      string,
    ];
    const [bz, br, bh] = recurrentBias
      ? (g.emit("Split", [recurrentBias, g.ints([hidden, hidden, hidden])], { axis: 0 }, 3) as [
          string,
          string,
          string,
        ])
      : [undefined, undefined, undefined];
    const withBias = (t: string, bias: string | undefined) => (bias ? g.add(t, bias) : t);
    return (input, state) => {
      const [xz, xr, xh] = split(input, 3) as [string, string, string];
      const h = state.h;
      const z = act(f, g.add(xz, withBias(g.op("MatMul", [h, rz]), bz)));
      const reset = act(f, g.add(xr, withBias(g.op("MatMul", [h, rr]), br)));
      const recurrent = beforeReset
        ? g.mul(reset, withBias(g.op("MatMul", [h, rh]), bh))
        : withBias(g.op("MatMul", [g.mul(reset, h), rh]), bh);
      const candidate = act(gAct, g.add(xh, recurrent));
      // (1 - z) h~ + z h = h~ + z (h - h~)
      return { h: g.add(candidate, g.mul(z, g.sub(h, candidate))) };
    };
  }
  return (input, state) => ({ h: act(f, g.add(input, g.op("MatMul", [state.h, recurrence]))) });
}
