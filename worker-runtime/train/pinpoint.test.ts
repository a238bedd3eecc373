// The pinpoint game's engine on real runs: a step traced operator by operator ends in exactly the
// training run's state, and every operator re-executed alone, as the referee does, gives the hash the
// trace recorded for it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cumulativeNext } from "../../protocol/pinpoint.ts";
import type { Tensor } from "../onnx/dtypes.ts";
import { CheckpointDir } from "./checkpoint-dir.ts";
import { loadFixture, loadZooFixture } from "./fixtures.ts";
import { checkEvidence, EvidenceError, runOperator, stepGraphOf, traceStep } from "./pinpoint.ts";
import { graphNodes } from "./pinpoint-graphs.ts";
import { replaySegment } from "./replay.ts";
import { train } from "./trainer.ts";

const scratch = mkdtempSync(join(tmpdir(), "veritrain-pinpoint-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const mlp = loadFixture("mlp");
const mlpSpec = { ...mlp.spec, epochs: undefined, max_steps: 4, checkpoint_every: 2 };

/** Trains 4 steps (runs of 2 steps, in the loop graph) and returns the checkpoint store and leaves. */
async function trained(
  name: string,
  fixture: { model: Uint8Array; dataset: typeof mlp.dataset },
  spec: object,
) {
  const dir = join(scratch, name);
  const result = await train({ ...fixture, spec, checkpointDir: dir });
  return { store: CheckpointDir.open(dir), leaves: result.checkpoints.map((c) => c.sha256) };
}

const cases = [
  { name: "mlp", fixture: mlp, spec: mlpSpec },
  // Under onnxruntime's fusions this model's step changes bits when node outputs are exposed.
  (() => {
    const zoo = loadZooFixture("transformer_rows");
    return {
      name: "transformer_rows",
      fixture: zoo,
      spec: { ...zoo.spec, epochs: undefined, max_steps: 4, checkpoint_every: 2 },
    };
  })(),
];

describe("a traced step is the training run's step, bit for bit", () => {
  for (const { name, fixture, spec } of cases) {
    it(`${name}: o_N of step 4, traced from the state after step 3, is the committed leaf`, async () => {
      const { store, leaves } = await trained(name, fixture, spec);
      const step3 = await replaySegment({ ...fixture, spec, from: store.read(2).bytes, toStep: 3 });
      const trace = await traceStep({ ...fixture, spec, from: step3.bytes });
      assert.equal(trace.step, 4);
      assert.equal(trace.stateSha256, leaves[2], "the state after the traced step");
      assert.equal(trace.graphNodes, graphNodes(await stepGraphOf({ ...fixture, spec }, 4)).length);
      assert.equal(trace.outputs.length, trace.graphNodes + 1);
      assert.equal(trace.outputs[trace.graphNodes], trace.stateSha256, "o_N is the state hash");
      assert.equal(trace.cumulative.length, trace.graphNodes + 2);
      for (let c = 0; c <= trace.graphNodes; c++) {
        assert.equal(trace.cumulative[c + 1], cumulativeNext(trace.cumulative[c]!, trace.outputs[c]!));
      }
      // The same step traced from the training run's own checkpoint agrees with the replay.
      const fromCheckpoint = await traceStep({ ...fixture, spec, from: store.read(2).bytes });
      assert.equal(fromCheckpoint.stateSha256, step3.sha256);
      assert.notDeepEqual(fromCheckpoint.cumulative, trace.cumulative, "another step, other hashes");
    });
  }
});

describe("the referee's one-operator re-execution", () => {
  for (const { name, fixture, spec } of cases) {
    it(`${name}: every node of a step run alone gives the hash the trace recorded`, async () => {
      const { store } = await trained(`${name}-referee`, fixture, spec);
      const from = store.read(2).bytes;
      const { graphNodes: count } = await traceStep({ ...fixture, spec, from });
      const nodes = Array.from({ length: count }, (_, c) => c);
      const trace = await traceStep({ ...fixture, spec, from, evidenceOf: nodes });
      const stepGraph = await stepGraphOf({ ...fixture, spec }, trace.step);
      for (const evidence of trace.evidence) {
        const c = evidence.node;
        checkEvidence(
          evidence,
          { step: BigInt(trace.step), node: c, cumulativeLo: trace.cumulative[c]! },
          stepGraph,
        );
        const alone = await runOperator(stepGraph, c, evidence.inputs);
        assert.equal(alone.sha256, trace.outputs[c], `node ${c} (${evidence.opType} ${evidence.name})`);
      }
    });
  }

  it("gives another output for a perturbed input", async () => {
    const { store } = await trained("mlp-perturbed", mlp, mlpSpec);
    const trace = await traceStep({ ...mlp, spec: mlpSpec, from: store.read(2).bytes, evidenceOf: [] });
    const stepGraph = await stepGraphOf({ ...mlp, spec: mlpSpec }, trace.step);
    const first = graphNodes(stepGraph).findIndex((node) => node.opType === "Gemm");
    const [gemm] = (
      await traceStep({ ...mlp, spec: mlpSpec, from: store.read(2).bytes, evidenceOf: [first] })
    ).evidence;
    // The first matrix product, fed one weight changed.
    const [name, tensor] = [...gemm!.inputs].find(([, t]) => t.dtype === "float32" && t.data.length > 1)!;
    const changed = Float32Array.from(tensor.data as Float32Array);
    changed[0]! += 0.25;
    const perturbed = new Map<string, Tensor>([...gemm!.inputs, [name, { ...tensor, data: changed }]]);
    assert.equal((await runOperator(stepGraph, gemm!.node, gemm!.inputs)).sha256, trace.outputs[first]);
    const other = await runOperator(stepGraph, gemm!.node, perturbed);
    assert.notEqual(other.sha256, trace.outputs[first]);
  });

  it("refuses evidence that does not chain to the agreed hashes or feeds an altered earlier output", async () => {
    const { store } = await trained("mlp-evidence", mlp, mlpSpec);
    const from = store.read(2).bytes;
    const first = await traceStep({ ...mlp, spec: mlpSpec, from });
    // The last node whose inputs include an earlier node's output.
    const late = first.graphNodes - 1;
    const trace = await traceStep({ ...mlp, spec: mlpSpec, from, evidenceOf: [late] });
    const stepGraph = await stepGraphOf({ ...mlp, spec: mlpSpec }, trace.step);
    const evidence = trace.evidence[0]!;
    const agreed = { step: BigInt(trace.step), node: late, cumulativeLo: trace.cumulative[late]! };
    checkEvidence(evidence, agreed, stepGraph);
    assert.throws(
      () => checkEvidence(evidence, { ...agreed, cumulativeLo: trace.cumulative[late - 1]! }, stepGraph),
      EvidenceError,
    );
    assert.throws(
      () => checkEvidence(evidence, { ...agreed, step: agreed.step + 1n }, stepGraph),
      EvidenceError,
    );
    assert.ok(evidence.producers.size > 0, "the last node reads an earlier node's output");
    const [name, tensor] = [...evidence.inputs].find(([input]) =>
      [...evidence.producers.values()].some((outputs) =>
        outputs.some((o) => o.data === evidence.inputs.get(input)!.data),
      ),
    )!;
    const altered = tensor.data.slice() as Float32Array;
    altered[0] = altered[0]! + 1;
    const forged = {
      ...evidence,
      inputs: new Map([...evidence.inputs, [name, { ...tensor, data: altered }]]),
    };
    assert.throws(() => checkEvidence(forged, agreed, stepGraph), /is not the output of node/);
  });
});
