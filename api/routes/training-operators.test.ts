import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { isSupportedOperator } from "../../worker-runtime/autodiff/index.ts";
import { withOperatorTable } from "../services/operator-docs.ts";

let t: TestApp;
before(async () => {
  t = await createTestApp();
});
after(() => t.close());

interface Operator {
  op_type: string;
  since_opset: number;
  until_opset: number;
  differentiable: boolean;
  restrictions: string | null;
}

test("GET /v1/training/operators lists what trains, without credentials", async () => {
  const res = await t.app.inject({ method: "GET", url: "/v1/training/operators" });
  assert.equal(res.statusCode, 200, res.body);
  const operators = res.json<{ data: Operator[] }>().data;
  const byType = new Map(operators.map((op) => [op.op_type, op]));
  for (const op of ["Gemm", "MatMul", "Conv", "Relu", "Softmax", "LSTM"]) assert.ok(byType.has(op), op);
  assert.equal(byType.get("Gemm")!.differentiable, true);
  assert.equal(byType.get("Shape")!.differentiable, false);
  assert.equal(byType.get("Pad")!.restrictions, "modes constant, reflect and edge (wrap is not)");
  assert.deepEqual([byType.get("Gemm")!.since_opset, byType.get("Gemm")!.until_opset], [13, 21]);
  assert.ok(operators.every((op) => isSupportedOperator("", op.op_type)));
  assert.deepEqual(
    operators.map((op) => op.op_type),
    [...byType.keys()].sort(),
    "alphabetical, each once",
  );
  assert.ok(!byType.has("NonMaxSuppression"), "an operator without a gradient rule is not listed");
});

test("docs/training.md lists the same operators (npm run docs:operators)", async () => {
  const docs = await readFile(new URL("../../docs/training.md", import.meta.url), "utf8");
  assert.equal(docs, withOperatorTable(docs), "docs/training.md is stale: run `npm run docs:operators`");
});
