import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { chainModel } from "../../test/support/hostile-files.ts";
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import { loadModel } from "../onnx/model.ts";
import { ModelBuilder } from "./model-builder.ts";
import { unsupportedOperators } from "./support.ts";

const fixtures = new URL("../fixtures/", import.meta.url);

describe("unsupportedOperators", () => {
  it("lists every unsupported operator with its nodes", () => {
    const m = new ModelBuilder(17);
    const x = m.input("x", "float32", [2, 2]);
    const a = m.op("LpNormalization", [x]);
    const b = m.op("LpNormalization", [a]);
    const c = m.op("Relu", [m.op("Det", [b])]);
    const d = m.op("Pad", [c, m.ints([1, 1])], { mode: "wrap" });
    const scales = m.constant(tensorFromNumbers("float32", [1], [2]));
    const e = m.op("Resize", [d, "", scales], { mode: "cubic", antialias: 1 });
    m.output(e, "float32");
    assert.deepEqual(unsupportedOperators(loadModel(m.bytes())), [
      { opType: "LpNormalization", nodes: ["/LpNormalization_0", "/LpNormalization_1"] },
      { opType: "Det", nodes: ["/Det_2"] },
      { opType: "Pad (mode=wrap)", nodes: ["/Pad_5"] },
      { opType: "Resize (antialias=1)", nodes: ["/Resize_7"] },
    ]);
  });

  it("finds no rule for op types named like Object.prototype's members", () => {
    const names = ["constructor", "__proto__", "toString"];
    const found = unsupportedOperators(loadModel(chainModel(names)));
    assert.deepEqual(
      found.map((op) => op.opType),
      names,
    );
  });

  for (const name of ["mlp", "cnn", "attention"]) {
    it(`finds nothing in the PyTorch export ${name}.onnx`, () => {
      assert.deepEqual(unsupportedOperators(loadModel(readFileSync(new URL(`${name}.onnx`, fixtures)))), []);
    });
  }
});
