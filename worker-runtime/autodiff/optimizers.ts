import { type DType, onnxDataType } from "../onnx/dtypes.ts";
import { AutodiffError } from "./errors.ts";
import { accumulateInGemm } from "./gemm-forms.ts";
import type { GraphBuilder } from "./graph-builder.ts";

export type OptimizerOptions =
  | { type: "sgd"; momentum?: number; dampening?: number; nesterov?: boolean; weightDecay?: number }
  | { type: "adam" | "adamw"; beta1?: number; beta2?: number; eps?: number; weightDecay?: number };

/** Scalars shared by every parameter's update, emitted once per graph. */
export class StepScalars {
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly g: GraphBuilder,
    /** float32 scalar graph input. */
    readonly learningRate: string,
    /** int64 scalar graph input: 1 on the first step, as torch's state["step"] after its increment. */
    readonly step: string,
  ) {}

  private once(key: string, make: () => string): string {
    const known = this.cache.get(key);
    if (known) return known;
    const made = this.g.scoped(`optimizer/${key}`, make);
    this.cache.set(key, made);
    return made;
  }

  isFirstStep(): string {
    return this.once("first_step", () => this.g.op("Equal", [this.step, this.g.scalar(1, "int64")]));
  }

  /** 1 - beta^step, in float64 as torch computes it in Python floats. */
  private biasCorrection(beta: number): string {
    return this.once(`bias_correction_${beta}`, () => {
      const step = this.g.op("Cast", [this.step], { to: onnxDataType.float64 });
      return this.g.op("Sub", [
        this.g.scalar(1, "float64"),
        this.g.op("Pow", [this.g.scalar(beta, "float64"), step]),
      ]);
    });
  }

  /** -lr / (1 - beta1^step) */
  adamStepSize(beta1: number): string {
    return this.once(`adam_step_size_${beta1}`, () => {
      const lr = this.g.op("Cast", [this.learningRate], { to: onnxDataType.float64 });
      const size = this.g.op("Neg", [this.g.op("Div", [lr, this.biasCorrection(beta1)])]);
      return this.g.op("Cast", [size], { to: onnxDataType.float32 });
    });
  }

  /** sqrt(1 - beta2^step) */
  adamSecondMomentScale(beta2: number): string {
    return this.once(`adam_second_moment_${beta2}`, () =>
      this.g.op("Cast", [this.g.op("Sqrt", [this.biasCorrection(beta2)])], { to: onnxDataType.float32 }),
    );
  }

  /** `scalar` (one of these) as a [1, 1] matrix. */
  matrix(scalar: string): string {
    return this.once(`matrix/${scalar}`, () => this.g.reshape(scalar, this.g.ints([1, 1])));
  }

  negativeLearningRate(): string {
    return this.once("negative_lr", () => this.g.op("Neg", [this.learningRate]));
  }

  /** 1 - lr * weight_decay (AdamW's decoupled decay factor). */
  decayFactor(weightDecay: number): string {
    return this.once(`decay_${weightDecay}`, () =>
      this.g.op("Sub", [
        this.g.scalar(1, "float32"),
        this.g.op("Mul", [this.learningRate, this.g.scalar(weightDecay, "float32")]),
      ]),
    );
  }
}

export interface OptimizerContext {
  g: GraphBuilder;
  /** The parameter as the model reads it. */
  param: string;
  /** The graph input the parameter is fed as, when it is fed as one row [1, n] (training-step.ts). */
  row?: string;
  /** The parameter's element type. */
  dtype: DType;
  grad: string;
  scalars: StepScalars;
  /** Declares a zero-initialized state tensor shaped like the parameter; returns its graph input name. */
  state(label: string): string;
  setState(label: string, updated: string): void;
}

type Update<O> = (c: OptimizerContext, options: O) => string;

function f32(g: GraphBuilder, value: number): string {
  return g.scalar(value, "float32");
}

/**
 * m·buf + grad computed by the gradient's own Gemm when a Gemm with no C input produces the
 * gradient and nothing else reads it (a Gemm layer's weight): C = buf, beta = m. That is two
 * element-wise passes over the weight fewer per step, and two parallel loops fewer with threads.
 * MLAS scales C by beta, then adds the product block by block of the inner dimension (the batch);
 * measured with onnxruntime 1.30, the result is bit-identical to Mul then Add while the batch is at
 * most 128, MLAS's block, and for larger batches adds m·buf before the later blocks' products (the
 * same bits whatever the thread count: threads.test.ts). Returns the updated buffer, or undefined.
 */
function momentumInGemm(g: GraphBuilder, grad: string, buffer: string, momentum: number): string | undefined {
  const producer = g.nodes.find((n) => n.output?.includes(grad));
  if (producer?.opType !== "Gemm" || (producer.domain ?? "") !== "") return undefined;
  const inputs = producer.input ?? [];
  if (inputs.length !== 2 || inputs.includes("")) return undefined;
  if (g.nodes.some((n) => n !== producer && n.input?.includes(grad))) return undefined;
  accumulateInGemm(producer, buffer, momentum);
  return grad;
}

/**
 * param + direction·scale (`scale` a scalar of c.scalars, `param` the parameter or a tensor of its
 * shape), the last step of every update. A parameter fed as one row takes it as one Gemm,
 * C + A·B with A = [[scale]] and B = direction as a row: MLAS's kernel for a one-row product
 * multiplies then adds, the bits of Mul then Add (row-parameters.test.ts), in one pass instead of
 * two, and its output is the row the next step is fed.
 */
function applyStep(c: OptimizerContext, param: string, direction: string, scale: string): string {
  const { g } = c;
  if (c.row === undefined) return g.op("Add", [param, g.op("Mul", [direction, scale])]);
  const row = g.ints([1, -1]);
  const base = param === c.param ? c.row : g.reshape(param, row);
  return g.op("Gemm", [c.scalars.matrix(scale), g.reshape(direction, row), base]);
}

/**
 * m·buf + grad computed by the Gemm of ones that sums a bias's gradient over the batch
 * (leading-sum.ts, gemm-forms.ts rowSumInGemm) when nothing else reads the sum: C = buf, beta = m,
 * the bits of the Mul and Add it replaces. Returns the updated buffer, or undefined.
 */
function momentumInRowSum(
  g: GraphBuilder,
  grad: string,
  buffer: string,
  momentum: number,
): string | undefined {
  const gemm = g.rowSums.get(grad);
  if (!gemm || g.nodes.some((n) => n.input?.includes(grad))) return undefined;
  accumulateInGemm(gemm, buffer, momentum);
  g.rowSums.delete(grad);
  return grad;
}

/** torch.optim.SGD: the momentum buffer starts as the first gradient, then buf = m buf + (1 - d) g. */
const sgd: Update<Extract<OptimizerOptions, { type: "sgd" }>> = (c, o) => {
  const { g } = c;
  const momentum = o.momentum ?? 0;
  const dampening = o.dampening ?? 0;
  const weightDecay = o.weightDecay ?? 0;
  if (o.nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new AutodiffError(
      "INVALID_OPTIONS",
      "Nesterov momentum requires a momentum and zero dampening (as torch.optim.SGD)",
    );
  }
  let d = weightDecay === 0 ? c.grad : g.op("Add", [c.grad, g.op("Mul", [c.param, f32(g, weightDecay)])]);
  if (momentum !== 0) {
    const buffer = c.state("momentum_buffer");
    const damped = dampening === 0 ? d : g.op("Mul", [d, f32(g, 1 - dampening)]);
    const folded =
      damped === c.grad && !o.nesterov
        ? (momentumInGemm(g, c.grad, buffer, momentum) ?? momentumInRowSum(g, c.grad, buffer, momentum))
        : undefined;
    let updated = folded ?? g.op("Add", [g.op("Mul", [buffer, f32(g, momentum)]), damped]);
    // With zero dampening the zero-initialized buffer already gives exactly d on the first step.
    if (dampening !== 0) updated = g.op("Where", [c.scalars.isFirstStep(), d, updated]);
    c.setState("momentum_buffer", updated);
    d = o.nesterov ? g.op("Add", [d, g.op("Mul", [updated, f32(g, momentum)])]) : updated;
  }
  return applyStep(c, c.param, d, c.scalars.negativeLearningRate());
};

/** torch.optim.Adam (L2 weight decay added to the gradient) and AdamW (decoupled decay). */
const adam: Update<Extract<OptimizerOptions, { type: "adam" | "adamw" }>> = (c, o) => {
  const { g } = c;
  const beta1 = o.beta1 ?? 0.9;
  const beta2 = o.beta2 ?? 0.999;
  const eps = o.eps ?? 1e-8;
  const weightDecay = o.weightDecay ?? (o.type === "adamw" ? 0.01 : 0);
  let param = c.param;
  let grad = c.grad;
  if (weightDecay !== 0) {
    if (o.type === "adamw") param = g.op("Mul", [param, c.scalars.decayFactor(weightDecay)]);
    else grad = g.op("Add", [grad, g.op("Mul", [param, f32(g, weightDecay)])]);
  }
  const expAvg = g.op("Add", [
    g.op("Mul", [c.state("exp_avg"), f32(g, beta1)]),
    g.op("Mul", [grad, f32(g, 1 - beta1)]),
  ]);
  const expAvgSq = g.op("Add", [
    g.op("Mul", [c.state("exp_avg_sq"), f32(g, beta2)]),
    g.op("Mul", [g.op("Mul", [grad, grad]), f32(g, 1 - beta2)]),
  ]);
  c.setState("exp_avg", expAvg);
  c.setState("exp_avg_sq", expAvgSq);
  const denominator = g.op("Add", [
    g.op("Div", [g.op("Sqrt", [expAvgSq]), c.scalars.adamSecondMomentScale(beta2)]),
    f32(g, eps),
  ]);
  return applyStep(c, param, g.op("Div", [expAvg, denominator]), c.scalars.adamStepSize(beta1));
};

export function emitUpdate(c: OptimizerContext, options: OptimizerOptions): string {
  return options.type === "sgd" ? sgd(c, options) : adam(c, options);
}
