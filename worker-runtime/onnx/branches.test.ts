import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ModelBuilder, seededRandom } from "../autodiff/model-builder.ts";
import { splitParameters } from "../autodiff/parameters.ts";
import { unsupportedOperators } from "../autodiff/support.ts";
import { attribute } from "./attributes.ts";
import { chooseBranches, MAX_BRANCHES } from "./branches.ts";
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
    const one = chooseBranches(model, shapes([5, 1, 4]));
    assert.equal(
      one.nodes.some((n) => n.opType === "If"),
      false,
    );
    assert.ok(one.nodes.some((n) => n.opType === "Squeeze"));
    assert.deepEqual(inferShapes(one, shapes([5, 1, 4])).infos.get(output)?.shape, [5, 3]);
    const two = chooseBranches(model, shapes([5, 2, 4]));
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
    assert.deepEqual(inferShapes(chooseBranches(model), shapes([3, 4])).infos.get(out)?.shape, [3, 4]);
  });

  it("count what their branches read as inputs: a weight used only inside one is trained", () => {
    const { model, output } = squeezeModel();
    assert.deepEqual(splitParameters(model, output).params, ["w"]);
  });

  it("refuse a condition that depends on the data's values, naming the node", () => {
    const { model } = squeezeModel({ byValue: true });
    assert.throws(
      () => chooseBranches(model, shapes([5, 1, 4])),
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

  it(`are refused past ${MAX_BRANCHES} in one model`, () => {
    const m = new ModelBuilder(17);
    let x = m.input("x", "float32", ["batch", 4]);
    const yes = m.constant(tensorFromNumbers("bool", [], [1]));
    for (let i = 0; i <= MAX_BRANCHES; i++) {
      const pass = (side: string): { graph: IGraphProto } =>
        branch(
          [{ name: `${side}${i}`, opType: "Identity", input: [x], output: [`${side}${i}/out`] }],
          [`${side}${i}/out`],
        );
      x = m.op("If", [yes], { then_branch: pass("then"), else_branch: pass("else") });
    }
    m.output(x, "float32");
    assert.throws(
      () => chooseBranches(loadModel(m.bytes())),
      (e: unknown) => e instanceof OnnxError && e.code === "LIMIT_EXCEEDED",
    );
  });
});
