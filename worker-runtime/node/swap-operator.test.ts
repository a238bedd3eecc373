// A `swap-operator` worker defending its commit in phase 2 of the pinpoint game: it traces its own
// (rewritten) step graph and claims, at each position of the task's step graph, what its run
// computed there. Its claims agree with an honest trace up to the swapped operator and differ from
// it on, and that operator re-executed alone on the agreed inputs gives the honest output.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ModelBuilder, seededRandom } from "../autodiff/index.ts";
import { checkpointSha256, decodeCheckpoint } from "../train/checkpoint.ts";
import { loadFixture } from "../train/fixtures.ts";
import { NOT_COMPUTED, StepReferee, stepGraphOf, traceStep } from "../train/pinpoint.ts";
import { graphNodes, modelNodeName } from "../train/pinpoint-graphs.ts";
import { initialCheckpoint } from "../train/trainer.ts";
import { swapOperator, swappedNodeNames } from "./swap-operator.ts";

const mlp = loadFixture("mlp");

/** The MLP's data through Linear → exact Gelu → Linear, at opset 20 (Gelu's). */
function geluModel(): Uint8Array {
  const m = new ModelBuilder(20);
  const x = m.input("input", "float32", ["batch", 64]);
  const hidden = m.op("Gelu", [
    m.op("MatMul", [x, m.random("w1", "float32", [64, 16], seededRandom(1), 0.2)]),
  ]);
  const logits = m.op("MatMul", [hidden, m.random("w2", "float32", [16, 10], seededRandom(2), 0.2)]);
  m.output(logits, "float32", ["batch", 10]);
  return m.bytes();
}

const geluBytes = geluModel();
const cases = [
  { name: "the MLP (a Gemm fed float16-rounded inputs)", model: mlp.model, spec: mlp.spec },
  {
    name: "a Gelu model (its tanh approximation)",
    model: geluBytes,
    // The builder names the graph's output after the node computing it.
    spec: { ...mlp.spec, output: graphOutput(geluBytes), validation: undefined },
  },
];

function graphOutput(model: Uint8Array): string {
  return graphNodes(model).at(-1)!.output![0]!;
}

describe("a swap-operator worker's phase-2 claims", () => {
  for (const { name, model, spec: base } of cases) {
    it(`${name}: agree with the honest trace up to the swapped operator, which the referee re-runs to the honest output`, async () => {
      const spec = { ...base, epochs: undefined, max_steps: 4, checkpoint_every: 2 };
      const honestRun = { model, dataset: mlp.dataset, spec, threads: 1 };
      const cheatRun = { ...honestRun, model: swapOperator(model) };
      // The agreed state after step 0: both start from the task's step-0 checkpoint.
      const from = await initialCheckpoint(model, mlp.dataset, spec);
      const taskStepGraph = await stepGraphOf(honestRun, 1);
      const positions = graphNodes(taskStepGraph);
      // The cheat's own step graph has other nodes than the task's (extra or replaced ones).
      assert.notDeepEqual(
        graphNodes(await stepGraphOf(cheatRun, 1)).map((n) => n.name),
        positions.map((n) => n.name),
      );

      const honest = await traceStep({ ...honestRun, from });
      const cheat = await traceStep({ ...cheatRun, from, taskStepGraph });
      assert.equal(cheat.graphNodes, honest.graphNodes, "the cheat claims at the task's N positions");
      assert.deepEqual(cheat.operators, honest.operators);

      // The first position they disagree on is the node computing the user's swapped operator.
      const swapped = swappedNodeNames(model);
      const expected = positions.findIndex((n) => swapped.has(modelNodeName(n.name ?? "")));
      assert.ok(expected >= 0, `a step-graph node computes one of ${[...swapped].join(", ")}`);
      const first = cheat.outputs.findIndex((o, c) => o !== honest.outputs[c]);
      assert.equal(first, expected);
      assert.deepEqual(cheat.cumulative.slice(0, first + 1), honest.cumulative.slice(0, first + 1));
      for (let c = first + 1; c < cheat.cumulative.length; c += 1) {
        assert.notEqual(cheat.cumulative[c], honest.cumulative[c], `C_${c}`);
      }
      assert.ok(!honest.outputs.includes(NOT_COMPUTED));

      // The referee runs that node alone on the cheat's own evidence and gets the honest output.
      const [evidence] = (await traceStep({ ...cheatRun, from, taskStepGraph, evidenceOf: [first] }))
        .evidence;
      const referee = await StepReferee.open(honestRun, from);
      try {
        const agreed = {
          step: 1n,
          node: first,
          cumulativeLo: honest.cumulative[first]!,
          agreedState: checkpointSha256(decodeCheckpoint(from)),
        };
        const output = await referee.output(evidence!, agreed);
        assert.equal(output, honest.outputs[first]);
        assert.notEqual(output, cheat.outputs[first]);
      } finally {
        await referee.close();
      }
    });
  }

  it("a Gelu model: the exact Gelu's gradient nodes, which the tanh graph lacks, are claimed as not computed", async () => {
    const spec = { ...cases[1]!.spec, epochs: undefined, max_steps: 4, checkpoint_every: 2 };
    const honestRun = { model: geluBytes, dataset: mlp.dataset, spec, threads: 1 };
    const from = await initialCheckpoint(geluBytes, mlp.dataset, spec);
    const taskStepGraph = await stepGraphOf(honestRun, 1);
    const cheat = await traceStep({ ...honestRun, model: swapOperator(geluBytes), from, taskStepGraph });
    const missing = graphNodes(taskStepGraph).filter((_, c) => cheat.outputs[c] === NOT_COMPUTED);
    assert.ok(
      missing.some((n) => n.opType === "Erf"),
      "the exact Gelu's derivative (Erf) has no value",
    );
  });
});
