import { type AttributeValue, attribute } from "../onnx/attributes.ts";
import { type DType, onnxDataType, type Tensor, tensorFromNumbers } from "../onnx/dtypes.ts";
import type { Dim } from "../onnx/model.ts";
import type { IGraphProto, INodeProto, ITensorProto, IValueInfoProto } from "../onnx/proto.ts";
import { tensorToProto } from "../onnx/tensor-proto.ts";

/** Marks a thread-layout helper's name: `<served node>${LAYOUT_HELPER}<role>` (GraphBuilder.layoutHelper). */
export const LAYOUT_HELPER = "/thread_layout/";

/**
 * Emits ONNX nodes with deterministic names: `<scope>/<OpType>_<n>`, numbered per scope, so the
 * same model and options always give byte-identical graphs (the verifiers hash them).
 */
export class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  /** Constants created while building, as initializers of the output graph. */
  readonly constants = new Map<string, Tensor>();
  private readonly constantByKey = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  private scopeName = "";
  /**
   * The Gemms of ones that sum a gradient over its leading axes (leading-sum.ts), by the sum's
   * output: the optimizer may make one add the momentum too (optimizers.ts).
   */
  readonly rowSums = new Map<string, INodeProto>();

  constructor(
    readonly opset: number,
    /**
     * The intra-op threads the graph will run with. Where onnxruntime runs two formulations that
     * give the same bits at different speeds depending on it, the builder emits the faster.
     */
    readonly threads = 1,
  ) {}

  /** Runs `body` with names prefixed by `name`. */
  scoped<T>(name: string, body: () => T): T {
    const outer = this.scopeName;
    this.scopeName = name;
    try {
      return body();
    } finally {
      this.scopeName = outer;
    }
  }

  freshName(label: string): string {
    const n = this.counters.get(this.scopeName) ?? 0;
    this.counters.set(this.scopeName, n + 1);
    return `${this.scopeName}/${label}_${n}`;
  }

  /** Appends a node and returns its output names. */
  emit(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
    outputCount = 1,
    domain = "",
  ): string[] {
    const name = this.freshName(opType);
    const outputs =
      outputCount === 1 ? [name] : Array.from({ length: outputCount }, (_, i) => `${name}:${i}`);
    this.addNode({ name, opType, domain, input: [...inputs], output: outputs, attributes });
    return outputs;
  }

  op(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}): string {
    return this.emit(opType, inputs, attributes)[0]!;
  }

  /**
   * Appends a node that only lays data out for node `served` at the graph's thread count (the Pad
   * and Slice around a padded sum, leading-sum.ts). Its name is the served node's with
   * LAYOUT_HELPER and `role`, not the scope's next: every other node keeps the name it has with one
   * thread, and the pinpoint game folds the helper into the served node's position
   * (worker-runtime/train/pinpoint-graphs.ts), so positions name the same nodes at every thread count.
   */
  layoutHelper(
    served: string,
    role: string,
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
  ): string {
    const name = `${served}${LAYOUT_HELPER}${role}`;
    this.addNode({ name, opType, input: [...inputs], output: [name], attributes });
    return name;
  }

  /** Appends a node whose output names the caller chose (forward nodes keep theirs). */
  addNode(node: {
    name: string;
    opType: string;
    domain?: string;
    input: string[];
    output: string[];
    attributes?: Record<string, AttributeValue>;
  }): void {
    this.nodes.push({
      name: node.name,
      opType: node.opType,
      domain: node.domain ?? "",
      input: node.input,
      output: node.output,
      attribute: Object.entries(node.attributes ?? {}).map(([k, v]) => attribute(k, v)),
    });
  }

  /** Runs `body` and moves the nodes it emitted to the front of the graph (they feed everything else). */
  prepend(body: () => void): void {
    const before = this.nodes.length;
    body();
    const added = this.nodes.splice(before);
    this.nodes.unshift(...added);
  }

  addProto(node: INodeProto): void {
    this.nodes.push(node);
  }

  /** The nodes emitted so far as a graph (a model's, or a subgraph for a `{ graph }` attribute). */
  toGraph(
    name: string,
    input: IValueInfoProto[],
    output: IValueInfoProto[],
    initializer: ITensorProto[] = [],
  ): IGraphProto {
    const constants = [...this.constants].map(([n, t]) => tensorToProto(n, t));
    return { name, node: [...this.nodes], input, output, initializer: [...initializer, ...constants] };
  }

  constant(tensor: Tensor): string {
    const key = `${tensor.dtype}|${tensor.dims}|${Array.from(tensor.data as ArrayLike<number | bigint>).join(",")}`;
    const known = this.constantByKey.get(key);
    if (known) return known;
    const name = `const/${this.constantByKey.size}`;
    this.constantByKey.set(key, name);
    this.constants.set(name, tensor);
    return name;
  }

  scalar(value: number, dtype: DType): string {
    return this.constant(tensorFromNumbers(dtype, [], [value]));
  }

  ints(values: readonly number[]): string {
    return this.constant(tensorFromNumbers("int64", [values.length], values));
  }

  /** The shape as an int64 tensor: a constant when static, a Shape node otherwise. */
  shapeOf(name: string, shape: readonly Dim[]): string {
    if (shape.every((d) => typeof d === "number")) return this.ints(shape as number[]);
    return this.op("Shape", [name]);
  }

  reshape(name: string, to: string): string {
    return this.op("Reshape", [name, to]);
  }

  reduceSum(name: string, axes: readonly number[], keepDims: boolean): string {
    return this.op("ReduceSum", [name, this.ints(axes)], { keepdims: keepDims ? 1 : 0 });
  }

  // Elementwise operators under short names, bound so that callers may destructure them.
  readonly add = this.binary("Add");
  readonly sub = this.binary("Sub");
  readonly mul = this.binary("Mul");
  readonly div = this.binary("Div");
  readonly gt = this.binary("Greater");
  readonly lt = this.binary("Less");
  readonly equal = this.binary("Equal");
  readonly and = this.binary("And");
  readonly neg = this.unary("Neg");
  readonly not = this.unary("Not");
  readonly sqrt = this.unary("Sqrt");
  readonly exp = this.unary("Exp");
  readonly reciprocal = this.unary("Reciprocal");

  private unary(opType: string): (x: string) => string {
    return (x) => this.op(opType, [x]);
  }

  private binary(opType: string): (a: string, b: string) => string {
    return (a, b) => this.op(opType, [a, b]);
  }

  where(condition: string, then: string, otherwise: string): string {
    return this.op("Where", [condition, then, otherwise]);
  }

  cast(x: string, to: DType): string {
    return this.op("Cast", [x], { to: onnxDataType[to] });
  }

  transpose(x: string, perm: readonly number[]): string {
    return this.op("Transpose", [x], { perm: [...perm] });
  }

  unsqueeze(x: string, axes: readonly number[]): string {
    return this.op("Unsqueeze", [x, this.ints(axes)]);
  }

  expand(x: string, shape: string): string {
    return this.op("Expand", [x, shape]);
  }
}
