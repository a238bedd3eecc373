import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { chainModel, reversedChainModel } from "../../test/support/hostile-files.ts";
import { ModelBuilder, seededRandom } from "../autodiff/model-builder.ts";
import { tensorFromNumbers } from "./dtypes.ts";
import {
  estimateTrainingFlops,
  inferShapes,
  loadModel,
  MODEL_LIMITS,
  OnnxError,
  withInitializers,
} from "./index.ts";
import { onnx } from "./proto.ts";

const fixtures = new URL("../fixtures/", import.meta.url);

function mlp(opset = 17) {
  const random = seededRandom(3);
  const m = new ModelBuilder(opset);
  const x = m.input("x", "float32", ["batch", 4]);
  const h = m.op("Relu", [
    m.op("Gemm", [x, m.random("w1", "float32", [8, 4], random), m.random("b1", "float32", [8], random)], {
      transB: 1,
    }),
  ]);
  const y = m.op(
    "Gemm",
    [h, m.random("w2", "float32", [3, 8], random), m.random("b2", "float32", [3], random)],
    { transB: 1 },
  );
  m.output(y, "float32", ["batch", 3]);
  return m.bytes();
}

function expectOnnxError(code: string, run: () => unknown) {
  assert.throws(run, (error: unknown) => error instanceof OnnxError && error.code === code);
}

describe("loadModel", () => {
  it("reads inputs, outputs, initializers and opset", () => {
    const model = loadModel(mlp());
    assert.equal(model.opset, 17);
    assert.deepEqual(model.inputs, [{ name: "x", dtype: "float32", shape: ["batch", 4] }]);
    assert.deepEqual([...model.initializers.keys()], ["w1", "b1", "w2", "b2"]);
    assert.deepEqual(model.initializers.get("w1")!.dims, [8, 4]);
  });

  it("refuses bytes that are not a ModelProto", () => {
    expectOnnxError("INVALID_PROTOBUF", () => loadModel(new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02])));
  });

  it("refuses opsets outside 13-21", () => {
    expectOnnxError("UNSUPPORTED_OPSET", () => loadModel(mlp(11)));
  });

  it("refuses weights stored in external files", () => {
    const proto = onnx.ModelProto.decode(mlp());
    proto.graph!.initializer![0]!.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    expectOnnxError("EXTERNAL_DATA", () => loadModel(onnx.ModelProto.encode(proto).finish()));
  });

  it("decodes float_data and int64_data as well as raw_data", () => {
    const proto = onnx.ModelProto.decode(mlp());
    const init = proto.graph!.initializer![1]!;
    const expected = Array.from(loadModel(mlp()).initializers.get("b1")!.data as Float32Array);
    init.rawData = new Uint8Array();
    init.floatData = expected;
    const model = loadModel(onnx.ModelProto.encode(proto).finish());
    assert.deepEqual(Array.from(model.initializers.get("b1")!.data as Float32Array), expected);
  });

  it("writes trained weights into the original graph", () => {
    const model = loadModel(mlp());
    const trained = tensorFromNumbers("float32", [3], [1, 2, 3]);
    const reloaded = loadModel(withInitializers(model, new Map([["b2", trained]])));
    assert.deepEqual(Array.from(reloaded.initializers.get("b2")!.data as Float32Array), [1, 2, 3]);
    assert.deepEqual(
      reloaded.nodes.map((n) => n.opType),
      model.nodes.map((n) => n.opType),
    );
    expectOnnxError("SHAPE_MISMATCH", () =>
      withInitializers(model, new Map([["b2", tensorFromNumbers("float32", [2], [1, 2])]])),
    );
    expectOnnxError("UNKNOWN_TENSOR", () => withInitializers(model, new Map([["nope", trained]])));
  });

  it("estimates training FLOPs: three forward passes plus the optimizer, linear in the batch", () => {
    const model = loadModel(mlp());
    const matmuls = 2 * (8 * 4 + 3 * 8);
    const batchOf = (n: number) => new Map([["x", [n, 4]]]);
    const one = estimateTrainingFlops(model, batchOf(1));
    assert.ok(one >= 3 * matmuls);
    const params = 8 * 4 + 8 + 3 * 8 + 3;
    assert.equal(estimateTrainingFlops(model, batchOf(32)) - one, 31 * (one - params * 12));
  });
});

describe("hostile graphs", () => {
  it("sorts 40,000 nodes listed last first in linear time, into chain order", () => {
    const bytes = reversedChainModel(40_000);
    const started = performance.now();
    const model = loadModel(bytes);
    // Decoding takes about 2 s here; the quadratic sort this replaced took minutes.
    assert.ok(performance.now() - started < 10_000, `${performance.now() - started} ms`);
    assert.deepEqual(
      model.nodes.slice(0, 3).map((n) => n.name),
      ["r0", "r1", "r2"],
    );
    assert.equal(model.nodes.at(-1)!.name, "r39999");
  });

  it("refuses more nodes or initializer bytes than its limits, naming both numbers", () => {
    assert.throws(
      () => loadModel(reversedChainModel(11), { ...MODEL_LIMITS, maxNodes: 10 }),
      /the graph has 11 nodes; at most 10 accepted/,
    );
    assert.throws(
      () => loadModel(mlp(), { ...MODEL_LIMITS, maxInitializerBytes: 100 }),
      (e: unknown) =>
        e instanceof OnnxError &&
        e.code === "LIMIT_EXCEEDED" &&
        /initializer w1: .* 128 bytes decoded; at most 100 accepted/.test(e.message),
    );
  });

  it("checks an initializer's data against its dims before allocating what the dims claim", () => {
    const proto = onnx.ModelProto.decode(mlp());
    const init = proto.graph!.initializer![0]!;
    init.dims = [2 ** 28, 2];
    init.rawData = new Uint8Array(8);
    const before = process.memoryUsage().arrayBuffers;
    expectOnnxError("INVALID_MODEL", () =>
      loadModel(onnx.ModelProto.encode(proto).finish(), { ...MODEL_LIMITS, maxInitializerBytes: 2 ** 33 }),
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 2 ** 24);
    init.dims = [-4, 8];
    assert.throws(() => loadModel(onnx.ModelProto.encode(proto).finish()), /dims \[-4,8\] are not sizes/);
  });

  it("finds no shape rule for op types named like Object.prototype's members", () => {
    const model = loadModel(chainModel(["constructor", "__proto__", "toString"]));
    expectOnnxError("UNSUPPORTED_OPERATOR", () => inferShapes(model));
  });

  it("refuses an input or output dimension of zero or less", () => {
    for (const size of [0, -3]) {
      const proto = onnx.ModelProto.decode(mlp());
      proto.graph!.input![0]!.type!.tensorType!.shape!.dim![1] = { dimValue: size };
      assert.throws(
        () => loadModel(onnx.ModelProto.encode(proto).finish()),
        new RegExp(
          `x: graph input dimension 1 is ${size}; a dimension is a positive size or a symbolic name`,
        ),
      );
    }
  });
});

describe("hostile shape arithmetic", () => {
  it("refuses a Slice with a step of 0 instead of folding it forever", () => {
    for (const rank of [1, 2]) {
      const m = new ModelBuilder(17);
      const x = m.input("x", "float32", ["N", 4]);
      const table = m.constant(tensorFromNumbers("int64", rank === 1 ? [4] : [2, 2], [3, 2, 1, 0]));
      const sliced = m.op("Slice", [table, m.ints([0]), m.ints([3]), m.ints([0]), m.ints([0])]);
      m.output(m.op("Reshape", [x, sliced]), "float32");
      assert.throws(
        () => inferShapes(loadModel(m.bytes())),
        (e: unknown) => e instanceof OnnxError && e.code === "INVALID_MODEL" && /step 0/.test(e.message),
      );
    }
  });

  it("refuses a tensor too large for any machine before onnxruntime allocates it", () => {
    // Sizes are constants of the file: one node could ask a node or the quote's probe for 40 GB.
    const hostile: Array<[string, (m: ModelBuilder, x: string) => string]> = [
      ["ConstantOfShape", (m) => m.op("ConstantOfShape", [m.ints([100_000, 100_000])])],
      ["Expand", (m, x) => m.op("Expand", [x, m.ints([100_000, 100_000, 8, 4])])],
      ["RandomNormal", (m) => m.op("RandomNormal", [], { shape: [100_000, 100_000] })],
    ];
    for (const [what, build] of hostile) {
      const m = new ModelBuilder(17);
      const x = m.input("x", "float32", ["N", 4]);
      m.output(m.op("ReduceSum", [build(m, x)], { keepdims: 0 }), "float32");
      assert.throws(
        () => inferShapes(loadModel(m.bytes()), new Map([["x", [8, 4]]])),
        (e: unknown) => e instanceof OnnxError && e.code === "LIMIT_EXCEEDED" && /elements/.test(e.message),
        what,
      );
    }
  });

  it("refuses a Range that never reaches its limit instead of sizing a dimension without end", () => {
    const cases: [string, number[]][] = [
      ["delta 0", [0, 10, 0]],
      ["delta 0 from the limit", [3, 3, 0]],
      ["an infinite limit", [0, Number.POSITIVE_INFINITY, 1]],
      ["a NaN start", [Number.NaN, 4, 1]],
    ];
    for (const [what, [start, limit, delta]] of cases) {
      const m = new ModelBuilder(17);
      const x = m.input("x", "float32", ["N", 4]);
      const scalar = (v: number) => m.constant(tensorFromNumbers("float32", [], [v]));
      const steps = m.op("Range", [scalar(start!), scalar(limit!), scalar(delta!)]);
      const n = m.op("Cast", [m.op("ReduceSum", [steps], { keepdims: 1 })], { to: 7 });
      m.output(m.op("Reshape", [x, m.op("Concat", [m.ints([-1]), n], { axis: 0 })]), "float32");
      assert.throws(
        () => inferShapes(loadModel(m.bytes())),
        (e: unknown) => e instanceof OnnxError && e.code === "INVALID_MODEL" && /Range/.test(e.message),
        what,
      );
    }
  });
});

describe("shape arithmetic folded before the graph runs", () => {
  it("folds Expand and Split of small tables: torch.repeat_interleave(h, 3, dim=1)'s counts", () => {
    // The export expands the count to one per column, splits it, and sizes each column's Expand
    // by a Concat of a split part: the expanded shape is known only if Expand and Split fold.
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", ["N", 2]);
    const table = m.constant(tensorFromNumbers("int64", [2, 1], [2, 5]));
    const wide = m.op("Expand", [table, m.ints([2, 3])]);
    const [first, second] = m.node("Split", [wide, m.ints([1, 1])], { axis: 0 }, 2) as [string, string];
    const counts = m.op("Expand", [m.constant(tensorFromNumbers("int64", [], [3])), m.ints([2])]);
    const [count] = m.node("Split", [counts, m.ints([1, 1])], { axis: 0 }, 2) as [string];
    const column = m.op("Unsqueeze", [x, m.ints([2])]);
    const repeated = m.op("Expand", [column, m.op("Concat", [m.ints([1, 1]), count], { axis: 0 })]);
    m.output(repeated, "float32");
    const { infos, values } = inferShapes(loadModel(m.bytes()));
    assert.deepEqual(values.get(wide)?.values, [2, 2, 2, 5, 5, 5]);
    assert.deepEqual(values.get(first), { dtype: "int64", dims: [1, 3], values: [2, 2, 2] });
    assert.deepEqual(values.get(second), { dtype: "int64", dims: [1, 3], values: [5, 5, 5] });
    assert.deepEqual(infos.get(repeated)?.shape, ["N", 2, 3]);
  });
});

describe("PyTorch exports", () => {
  for (const name of ["mlp", "cnn", "attention"]) {
    it(`${name}.onnx loads and its shapes infer with a symbolic batch`, () => {
      const model = loadModel(readFileSync(new URL(`${name}.onnx`, fixtures)));
      const { infos } = inferShapes(model);
      const output = model.outputs[0]!.name;
      assert.equal(infos.get(output)!.shape[0], "batch");
      assert.equal(typeof infos.get(output)!.shape[1], "number");
    });
  }

  it("folds a view(x.size(0), -1) shape subgraph around a symbolic batch", () => {
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", ["N", 2, 3, 4]);
    const batch = m.op("Unsqueeze", [
      m.op("Gather", [m.op("Shape", [x]), m.constant(tensorFromNumbers("int64", [], [0]))]),
      m.ints([0]),
    ]);
    const flat = m.op("Reshape", [x, m.op("Concat", [batch, m.ints([-1])], { axis: 0 })]);
    m.output(flat, "float32");
    const { infos, values } = inferShapes(loadModel(m.bytes()));
    assert.deepEqual(infos.get(flat)!.shape, ["N", 24]);
    assert.deepEqual([...values.values()].at(-1)!.values, ["N", -1]);
  });

  it("folds F.pad's amounts: a [pairs, 2] table reversed by a negative-step Slice, then transposed", () => {
    // torch writes F.pad(x, (1, 2, 3, 4)) as pads [[1, 2], [3, 4], [0, 0], [0, 0]] reversed by
    // rows and transposed into ONNX's [begins..., ends...].
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", ["N", 2, 5, 6]);
    const table = m.constant(tensorFromNumbers("int64", [4, 2], [1, 2, 3, 4, 0, 0, 0, 0]));
    const reversed = m.op("Slice", [table, m.ints([-1]), m.ints([-(2 ** 62)]), m.ints([0]), m.ints([-1])]);
    const pads = m.op("Reshape", [m.op("Transpose", [reversed], { perm: [1, 0] }), m.ints([-1])]);
    const padded = m.op("Pad", [x, pads], { mode: "reflect" });
    m.output(padded, "float32");
    const { infos, values } = inferShapes(loadModel(m.bytes()));
    assert.deepEqual(values.get(reversed)?.values, [0, 0, 0, 0, 3, 4, 1, 2]);
    assert.deepEqual(values.get(pads)?.values, [0, 0, 3, 1, 0, 0, 4, 2]);
    assert.deepEqual(infos.get(padded)!.shape, ["N", 2, 12, 9]);
  });
});
