import assert from "node:assert/strict";
import { describe, it } from "node:test";
import ort from "onnxruntime-node";
import { checkGradients, sessionOptions, toOrt } from "../autodiff/gradient-check.ts";
import { buildGradientGraph } from "../autodiff/gradient-graph.ts";
import { ModelBuilder, seededRandom } from "../autodiff/model-builder.ts";
import { splitParameters } from "../autodiff/parameters.ts";
import { valueInfo } from "../autodiff/step-graph.ts";
import { unsupportedOperators } from "../autodiff/support.ts";
import { attribute } from "./attributes.ts";
import { MAX_CONTROL_FLOW, resolveControlFlow } from "./control-flow.ts";
import { tensorFromNumbers } from "./dtypes.ts";
import { OnnxError } from "./errors.ts";
import { type Dim, loadModel } from "./model.ts";
import { type IGraphProto, type INodeProto, onnx } from "./proto.ts";
import { inferShapes } from "./shape-inference.ts";

/** A branch graph: its nodes and the names it outputs. */
function branch(nodes: INodeProto[], outputs: string[]): { graph: IGraphProto } {
  return { graph: { name: "branch", node: nodes, output: outputs.map((name) => ({ name })) } };
}

/**
 * What torch.onnx.export writes for `(x @ w).squeeze(1)` when it does not know dim 1's size:
 * If(size == 1, Squeeze, Identity), the weight read inside the branches only. With `inner`, the
 * then-branch also runs that operator. With `byValue`, the condition comes from x's values instead.
 */
function squeezeModel({ inner, byValue = false }: { inner?: string; byValue?: boolean } = {}) {
  const m = new ModelBuilder(17);
  const x = m.input("x", "float32", ["batch", "n", 4]);
  m.random("w", "float32", [4, 3], seededRandom(2));
  const condition = byValue
    ? m.op("Greater", [
        m.op("ReduceSum", [x], { keepdims: 0 }),
        m.constant(tensorFromNumbers("float32", [], [0])),
      ])
    : m.op("Equal", [
        m.op("Gather", [m.op("Shape", [x]), m.constant(tensorFromNumbers("int64", [], [1]))]),
        m.constant(tensorFromNumbers("int64", [], [1])),
      ]);
  const axes: INodeProto = {
    name: "then/axes",
    opType: "Constant",
    output: ["then/axes"],
    attribute: [attribute("value", tensorFromNumbers("int64", [1], [1]))],
  };
  const thenNodes: INodeProto[] = [
    axes,
    { name: "then/product", opType: "MatMul", input: [x, "w"], output: ["then/product"] },
    { name: "then/squeeze", opType: "Squeeze", input: ["then/product", "then/axes"], output: ["then/out"] },
  ];
  if (inner)
    thenNodes.push({ name: "then/inner", opType: inner, input: ["then/out"], output: ["then/extra"] });
  const out = m.op("If", [condition], {
    then_branch: branch(thenNodes, ["then/out"]),
    else_branch: branch(
      [{ name: "else/product", opType: "MatMul", input: [x, "w"], output: ["else/out"] }],
      ["else/out"],
    ),
  });
  m.output(out, "float32");
  return { model: loadModel(m.bytes()), output: out };
}

const shapes = (x: Dim[]) => new Map([["x", x]]);

describe("If nodes that shapes decide", () => {
  it("are replaced by the branch the input shapes pick", () => {
    const { model, output } = squeezeModel();
    const one = resolveControlFlow(model, shapes([5, 1, 4]));
    assert.equal(
      one.nodes.some((n) => n.opType === "If"),
      false,
    );
    assert.ok(one.nodes.some((n) => n.opType === "Squeeze"));
    assert.deepEqual(inferShapes(one, shapes([5, 1, 4])).infos.get(output)?.shape, [5, 3]);
    const two = resolveControlFlow(model, shapes([5, 2, 4]));
    assert.equal(
      two.nodes.some((n) => n.opType === "Squeeze"),
      false,
    );
    assert.deepEqual(inferShapes(two, shapes([5, 2, 4])).infos.get(output)?.shape, [5, 2, 3]);
  });

  it("are ordered after what their branches read, even when the file lists them first", () => {
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", ["batch", 4]);
    const yes = m.constant(tensorFromNumbers("bool", [], [1]));
    const read = (side: string) =>
      branch([{ name: side, opType: "Identity", input: ["h"], output: [`${side}/out`] }], [`${side}/out`]);
    const out = m.op("If", [yes], { then_branch: read("then"), else_branch: read("else") });
    m.output(out, "float32");
    const proto = onnx.ModelProto.decode(m.bytes());
    // The producer of h, which only the branches read, listed last.
    proto.graph!.node!.push({ name: "relu", opType: "Relu", input: [x], output: ["h"] });
    const model = loadModel(onnx.ModelProto.encode(proto).finish());
    assert.deepEqual(
      model.nodes.map((n) => n.opType),
      ["Constant", "Relu", "If"],
    );
    assert.deepEqual(inferShapes(resolveControlFlow(model), shapes([3, 4])).infos.get(out)?.shape, [3, 4]);
  });

  it("count what their branches read as inputs: a weight used only inside one is trained", () => {
    const { model, output } = squeezeModel();
    assert.deepEqual(splitParameters(model, output).params, ["w"]);
  });

  it("refuse a condition that depends on the data's values, naming the node", () => {
    const { model } = squeezeModel({ byValue: true });
    assert.throws(
      () => resolveControlFlow(model, shapes([5, 1, 4])),
      (e: unknown) =>
        e instanceof OnnxError &&
        e.code === "UNSUPPORTED_OPERATOR" &&
        /^\/If_\d+$/.test(e.where ?? "") &&
        /known only when the graph runs/.test(e.message),
    );
  });

  it("pass the upload check, unless a branch holds an operator the engine does not support", () => {
    assert.deepEqual(unsupportedOperators(squeezeModel().model), []);
    assert.deepEqual(unsupportedOperators(squeezeModel({ inner: "Unique" }).model), [
      { opType: "Unique", nodes: ["then/inner"] },
    ]);
  });

  it(`are refused past ${MAX_CONTROL_FLOW} in one model`, () => {
    const m = new ModelBuilder(17);
    let x = m.input("x", "float32", ["batch", 4]);
    const yes = m.constant(tensorFromNumbers("bool", [], [1]));
    for (let i = 0; i <= MAX_CONTROL_FLOW; i++) {
      const pass = (side: string): { graph: IGraphProto } =>
        branch(
          [{ name: `${side}${i}`, opType: "Identity", input: [x], output: [`${side}${i}/out`] }],
          [`${side}${i}/out`],
        );
      x = m.op("If", [yes], { then_branch: pass("then"), else_branch: pass("else") });
    }
    m.output(x, "float32");
    assert.throws(
      () => resolveControlFlow(loadModel(m.bytes())),
      (e: unknown) => e instanceof OnnxError && e.code === "LIMIT_EXCEEDED",
    );
  });
});

const constant = (name: string, values: number[], dims: number[] = [values.length]): INodeProto => ({
  name,
  opType: "Constant",
  output: [name],
  attribute: [attribute("value", tensorFromNumbers("int64", dims, values))],
});

/**
 * What torch.onnx.export writes for nn.EmbeddingBag(mode="mean") on [bags, 3] token ids: a Loop
 * whose trip count is the number of bags, each iteration slicing its bag's ids out of the flat
 * list, looking them up in the table and averaging. `tokens` is an input, or a constant of these
 * ids; `count` replaces the trip count, `keepGoing` the body's condition (the refusals).
 */
function bagModel({
  ids,
  count,
  keepGoing,
}: {
  ids?: number[];
  count?: (m: ModelBuilder, tokens: string) => string;
  keepGoing?: INodeProto;
} = {}) {
  const m = new ModelBuilder(17);
  const tokens = ids
    ? m.constant(tensorFromNumbers("int64", [ids.length / 3, 3], ids))
    : m.input("tokens", "int64", ["bags", 3]);
  m.random("table", "float32", [10, 4], seededRandom(3));
  const flat = m.op("Reshape", [tokens, m.ints([-1])]);
  const bags = count
    ? count(m, tokens)
    : m.op("Gather", [m.op("Shape", [tokens]), m.constant(tensorFromNumbers("int64", [], [0]))]);
  const body: IGraphProto = {
    name: "bag",
    input: [
      valueInfo({ name: "i", dtype: "int64", shape: [] }),
      valueInfo({ name: "go", dtype: "bool", shape: [] }),
    ],
    output: [
      valueInfo({ name: "go_on", dtype: "bool", shape: [] }),
      valueInfo({ name: "mean", dtype: "float32" }),
    ],
    node: [
      constant("three", [3], []),
      constant("zero", [0]),
      { name: "start", opType: "Mul", input: ["i", "three"], output: ["start"] },
      { name: "end", opType: "Add", input: ["start", "three"], output: ["end"] },
      { name: "starts", opType: "Unsqueeze", input: ["start", "zero"], output: ["starts"] },
      { name: "ends", opType: "Unsqueeze", input: ["end", "zero"], output: ["ends"] },
      { name: "ids", opType: "Slice", input: [flat, "starts", "ends", "zero"], output: ["ids"] },
      { name: "rows", opType: "Gather", input: ["table", "ids"], output: ["rows"] },
      {
        name: "mean",
        opType: "ReduceMean",
        input: ["rows"],
        output: ["mean"],
        attribute: [attribute("axes", [0]), attribute("keepdims", 0)],
      },
      keepGoing ?? { name: "go_on", opType: "Identity", input: ["go"], output: ["go_on"] },
    ],
  };
  const yes = m.constant(tensorFromNumbers("bool", [], [1]));
  const [out] = m.node("Loop", [bags, yes], { body: { graph: body } }, 1) as [string];
  m.output(out, "float32");
  return { model: loadModel(m.bytes()), bytes: m.bytes(), output: out };
}

const bagShapes = (bags: number) => new Map([["tokens", [bags, 3] as Dim[]]]);
const IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 1, 5, 5, 2];

describe("Loop nodes whose count shapes decide", () => {
  it("are unrolled at the input shapes and compute what onnxruntime's Loop computes", async () => {
    const { model, bytes, output } = bagModel();
    const unrolled = resolveControlFlow(model, bagShapes(5));
    assert.ok(!unrolled.nodes.some((n) => n.opType === "Loop"));
    assert.deepEqual(inferShapes(unrolled, bagShapes(5)).infos.get(output)?.shape, [5, 4]);
    const tokens = toOrt(tensorFromNumbers("int64", [5, 3], IDS));
    const plain = await ort.InferenceSession.create(bytes, sessionOptions);
    const expected = (await plain.run({ tokens }))[output]!.data as Float32Array;
    const graph = buildGradientGraph(model, { modelOutput: output, batchSize: 5, loss: { type: "mse" } });
    const session = await ort.InferenceSession.create(graph.bytes, sessionOptions);
    const feeds: Record<string, ort.Tensor> = {
      tokens,
      [graph.inputs.target]: new ort.Tensor("float32", new Float32Array(20), [5, 4]),
    };
    for (const name of graph.params) feeds[name] = toOrt(model.initializers.get(name)!);
    const ours = (await session.run(feeds, [graph.outputs.modelOutput]))[graph.outputs.modelOutput]!.data;
    assert.deepEqual(Array.from(ours as Float32Array), Array.from(expected));
  });

  it("carry the gradient of what their body reads through the unrolled copies (finite differences)", async () => {
    const { model, output } = bagModel({ ids: IDS });
    const random = seededRandom(9);
    const target = tensorFromNumbers(
      "float32",
      [5, 4],
      Array.from({ length: 20 }, () => random()),
    );
    const mismatches = await checkGradients(model, {
      modelOutput: output,
      loss: { type: "mse" },
      batch: new Map(),
      target,
      h: 1e-2,
      atol: 2e-3,
      rtol: 2e-2,
    });
    assert.deepEqual(mismatches.slice(0, 5), []);
  });

  it("are upload-checked by their body's operators", () => {
    assert.deepEqual(unsupportedOperators(bagModel().model), []);
    const odd = bagModel({
      keepGoing: { name: "go_on", opType: "Unique", input: ["go"], output: ["go_on"] },
    });
    assert.deepEqual(unsupportedOperators(odd.model), [{ opType: "Unique", nodes: ["go_on"] }]);
  });

  it("are refused, naming the node, when the count or the condition depends on the data's values", () => {
    const byValue = bagModel({
      count: (m, tokens) => m.op("ReduceMax", [m.op("Reshape", [tokens, m.ints([-1])])], { keepdims: 0 }),
    });
    assert.throws(
      () => resolveControlFlow(byValue.model, bagShapes(5)),
      (e: unknown) =>
        e instanceof OnnxError && e.code === "UNSUPPORTED_OPERATOR" && /trip count/.test(e.message),
    );
    const stops = bagModel({
      keepGoing: { name: "go_on", opType: "Less", input: ["i", "three"], output: ["go_on"] },
    });
    assert.throws(
      () => resolveControlFlow(stops.model, bagShapes(5)),
      (e: unknown) =>
        e instanceof OnnxError && e.code === "UNSUPPORTED_OPERATOR" && /may stop it/.test(e.message),
    );
  });

  it("are refused past the nodes unrolling may add, before any is built", () => {
    const huge = bagModel({ count: (m) => m.constant(tensorFromNumbers("int64", [], [1e9])) });
    assert.throws(
      () => resolveControlFlow(huge.model, bagShapes(5)),
      (e: unknown) => e instanceof OnnxError && e.code === "LIMIT_EXCEEDED" && /20000 nodes/.test(e.message),
    );
  });
});
