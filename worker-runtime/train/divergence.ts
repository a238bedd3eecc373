// Where a diverging step first goes non-finite. A run reports only its losses, so the steps of the
// run before the diverging one are run again and that step is traced with every node's output
// exposed (the pinpoint game's trace): DIVERGED then names the node, and says whether values grew
// too large or an operator met values outside its domain, which call for different fixes.
import { isFloat, type LoadedModel, type Tensor } from "../onnx/index.ts";
import { TrainError, type TrainIssue } from "./errors.ts";
import {
  batchSizeOf,
  type ModelState,
  type RunInput,
  type StepEngine,
  stepNodeOrigin,
} from "./step-engine.ts";

// Past this, inputs are taken to have grown without bound (float32 ends at 3.4e38): the run's
// learning rate, not the operator, is the cause.
const EXPLODED = 1e15;

/** What firstNonFinite found: its account in words, the model node, and what it output. */
export interface NonFinite {
  text: string;
  node?: string;
  what: "NaN" | "an infinity";
}

/** The DIVERGED error of `step`, whose loss was `loss`, with what the trace found when it found it. */
export function divergedError(step: number, loss: number, cause?: NonFinite): TrainError {
  const advice = "lower the learning rate or set clip_grad_norm";
  if (!cause)
    return new TrainError("DIVERGED", `the loss became ${loss} at step ${step}; ${advice}`, [], step);
  const issues: TrainIssue[] = cause.node
    ? [{ path: cause.node, message: `first to output ${cause.what}` }]
    : [];
  return new TrainError("DIVERGED", `the loss became ${loss} at step ${step}: ${cause.text}`, issues, step);
}

/** Steps [from, to) of a run's input. */
function stepsOf(input: RunInput, from: number, to: number): RunInput {
  const size = batchSizeOf(input);
  return {
    samples: input.samples,
    indices: input.indices.subarray(from * size, to * size),
    learningRates: input.learningRates.slice(from, to),
    firstStep: input.firstStep + from,
    dropoutSeeds: input.dropoutSeeds.slice(from, to),
  };
}

/** The largest finite magnitude in a float tensor, and whether it holds NaN or an infinity. */
function scan(t: Tensor): { largest: number; nan: boolean; infinite: boolean } {
  let largest = 0;
  let nan = false;
  let infinite = false;
  if (isFloat(t.dtype)) {
    for (const value of t.data as Float32Array | Float64Array) {
      if (Number.isNaN(value)) nan = true;
      else if (!Number.isFinite(value)) infinite = true;
      else largest = Math.max(largest, Math.abs(value));
    }
  }
  return { largest, nan, infinite };
}

/**
 * The first node of step `index` of `input` (run from `state`) whose output is not finite, in
 * words, or undefined when every output is finite.
 */
export async function firstNonFinite(
  engine: StepEngine,
  model: LoadedModel,
  state: ModelState,
  input: RunInput,
  index: number,
): Promise<NonFinite | undefined> {
  const before = index === 0 ? state : await engine.run(state, stepsOf(input, 0, index));
  const traced = await engine.trace(before, stepsOf(input, index, index + 1));
  const values = new Map([...traced.fed, ...traced.initializers]);
  for (const [n, node] of traced.nodes.entries()) {
    const names = (node.output ?? []).filter((o) => o !== "");
    names.forEach((name, at) => {
      values.set(name, traced.outputs[n]![at]!);
    });
    const found = traced.outputs[n]!.map(scan).find((s) => s.nan || s.infinite);
    if (!found) continue;
    const inputs = (node.input ?? []).flatMap((name) => {
      const value = values.get(name);
      return value ? [scan(value).largest] : [];
    });
    const largest = Math.max(0, ...inputs);
    const origin = stepNodeOrigin(model, node.name ?? "");
    const what = found.nan ? ("NaN" as const) : ("an infinity" as const);
    const cause =
      largest >= EXPLODED
        ? `its inputs reach ${largest.toPrecision(3)}: values grew without bound; lower the learning rate or set clip_grad_norm`
        : `its inputs stay within ${largest.toPrecision(3)}: the operator met values outside its domain (a root or logarithm of a negative number or 0, a division by 0); keep them out in the model (an epsilon, a clamp)`;
    return { text: `${origin.where} is the first to output ${what}; ${cause}`, node: origin.node, what };
  }
  return undefined;
}
