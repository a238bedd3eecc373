import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSupportedOperator } from "../autodiff/index.ts";
import { ModelBuilder, seededRandom } from "../autodiff/model-builder.ts";
import { tensorFromNumbers } from "./dtypes.ts";
import { estimateTrainingFlops, hasFlopRule, loadModel, OnnxError } from "./index.ts";
import { shapeRules } from "./shape-rules.ts";

/** x [batch, seq, 8] @ w [8, 4]: the cost grows with seq, a dimension only the dataset sizes. */
function sequenceModel() {
  const m = new ModelBuilder(17);
  const x = m.input("x", "float32", ["batch", "seq", 8]);
  const y = m.op("MatMul", [x, m.random("w", "float32", [8, 4], seededRandom(1))]);
  m.output(y, "float32", ["batch", "seq", 4]);
  return loadModel(m.bytes());
}

const OPTIMIZER = 12 * 8 * 4;

function refused(run: () => unknown, pattern: RegExp) {
  assert.throws(
    run,
    (e: unknown) => e instanceof OnnxError && e.code === "UNPRICEABLE" && pattern.test(e.message),
  );
}

describe("estimateTrainingFlops", () => {
  it("has a rule for every operator the engine supports", () => {
    const supported = Object.keys(shapeRules).filter((op) => isSupportedOperator("", op));
    assert.ok(supported.length > 50);
    assert.deepEqual(
      supported.filter((op) => !hasFlopRule(op)),
      [],
    );
    assert.equal(hasFlopRule("constructor"), false);
  });

  it("prices symbolic dimensions at the sizes the data gives them, not at 1", () => {
    const model = sequenceModel();
    const forward = (seq: number) => estimateTrainingFlops(model, new Map([["x", [32, seq, 8]]])) - OPTIMIZER;
    assert.equal(forward(1), 3 * 2 * 32 * 4 * 8);
    assert.equal(forward(512), 512 * forward(1));
  });

  it("refuses an input without a size, and a dimension known only when the graph runs", () => {
    refused(() => estimateTrainingFlops(sequenceModel(), new Map()), /^x: the graph input has no size/);
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", ["batch", 4]);
    const limit = m.op("Cast", [m.op("ReduceMax", [x], { keepdims: 0 })], { to: 7 });
    const zero = m.constant(tensorFromNumbers("int64", [], [0]));
    const one = m.constant(tensorFromNumbers("int64", [], [1]));
    m.output(m.op("Range", [zero, limit, one]), "int64");
    const model = loadModel(m.bytes());
    refused(
      () => estimateTrainingFlops(model, new Map([["x", [8, 4]]])),
      /Range output 0 has shape \[.*\]: dimension .* is known only when the graph runs/,
    );
  });
});
