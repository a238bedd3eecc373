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
import { checkpointSha256, decodeCheckpoint } from "./checkpoint.ts";
import { CheckpointDir } from "./checkpoint-dir.ts";
import { loadFixture, loadZooFixture } from "./fixtures.ts";
import {
  checkEvidence,
  EvidenceError,
  runOperator,
  StepReferee,
  stepGraphOf,
  traceStep,
} from "./pinpoint.ts";
import { gamePositions, graphNodes, nodeInputs } from "./pinpoint-graphs.ts";
import { currentProfile } from "./profile.ts";
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

/** The fused operators ("domain:op") onnxruntime's optimisation leaves in a step graph. */
const fusedOperators = (stepGraph: Uint8Array) =>
  new Set(graphNodes(stepGraph).flatMap((n) => (n.domain ? [`${n.domain}:${n.opType}`] : [])));

const cnn = loadFixture("cnn");
const cases = [
  { name: "mlp", fixture: mlp, spec: mlpSpec, fused: ["com.microsoft:FusedGemm"] },
  // Under onnxruntime's fusions this model's step changes bits when node outputs are exposed, so
  // the graph is optimised once and run as saved.
  (() => {
    const zoo = loadZooFixture("transformer_rows");
    return {
      name: "transformer_rows",
      fixture: zoo,
      spec: { ...zoo.spec, epochs: undefined, max_steps: 4, checkpoint_every: 2 },
      fused: ["com.microsoft:FusedMatMul"],
    };
  })(),
  {
    // A frozen convolution has constant weights, which level "all" moves to onnxruntime's blocked
    // NCHWc layout where the CPU has the vector units for it (AVX2 and up on x86-64).
    name: "cnn with its first convolution frozen",
    fixture: cnn,
    spec: {
      ...cnn.spec,
      frozen: ["features.0.weight", "features.0.bias"],
      epochs: undefined,
      max_steps: 4,
      checkpoint_every: 2,
    },
    fused: currentProfile().cpu_features.includes("avx2")
      ? ["com.microsoft.nchwc:Conv", "com.microsoft.nchwc:ReorderOutput"]
      : [],
  },
];

describe("a traced step is the training run's step, bit for bit", () => {
  for (const { name, fixture, spec, fused } of cases) {
    it(`${name}: o_N of step 4, traced from the state after step 3, is the committed leaf`, async () => {
      const { store, leaves } = await trained(name, fixture, spec);
      const step3 = await replaySegment({ ...fixture, spec, from: store.read(2).bytes, toStep: 3 });
      const trace = await traceStep({ ...fixture, spec, from: step3.bytes });
      assert.equal(trace.step, 4);
      assert.equal(trace.stateSha256, leaves[2], "the state after the traced step");
      const stepGraph = await stepGraphOf({ ...fixture, spec }, 4);
      assert.equal(trace.graphNodes, gamePositions(stepGraph).length);
      const present = fusedOperators(stepGraph);
      for (const op of fused) assert.ok(present.has(op), `the optimised step graph has ${op}`);
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

/** The game narrowed to node `node` of the traced step: what the chain would record. */
const narrowed = (trace: { step: number; cumulative: string[] }, node: number, from: Uint8Array) => ({
  step: BigInt(trace.step),
  node,
  cumulativeLo: trace.cumulative[node]!,
  agreedState: checkpointSha256(decodeCheckpoint(from)),
});

describe("the referee's one-operator re-execution", () => {
  for (const { name, fixture, spec, fused } of cases) {
    it(`${name}: every node of a step, run alone from checked evidence, gives the traced hash`, async () => {
      const { store } = await trained(`${name}-referee`, fixture, spec);
      const from = store.read(2).bytes;
      const { graphNodes: count } = await traceStep({ ...fixture, spec, from });
      // Every operator and the checkpoint assembly (node N).
      const nodes = Array.from({ length: count + 1 }, (_, c) => c);
      const trace = await traceStep({ ...fixture, spec, from, evidenceOf: nodes });
      const referee = await StepReferee.open({ ...fixture, spec }, from);
      try {
        assert.equal(referee.step, trace.step);
        const refereed = new Set<string>();
        const stepNodes = graphNodes(referee.stepGraph);
        for (const evidence of trace.evidence) {
          const c = evidence.node;
          const output = await referee.output(evidence, narrowed(trace, c, from));
          assert.equal(output, trace.outputs[c], `node ${c} (${evidence.opType} ${evidence.name})`);
          const domain = stepNodes[c]?.domain;
          if (domain) refereed.add(`${domain}:${evidence.opType}`);
        }
        for (const op of fused) assert.ok(refereed.has(op), `the referee reran a ${op} node`);
      } finally {
        await referee.close();
      }
    });
  }

  it("gives another output for a perturbed input", async () => {
    const { store } = await trained("mlp-perturbed", mlp, mlpSpec);
    const from = store.read(2).bytes;
    const stepGraph = await stepGraphOf({ ...mlp, spec: mlpSpec }, 3);
    const nodes = graphNodes(stepGraph);
    const everyNode = Array.from({ length: nodes.length }, (_, c) => c);
    const trace = await traceStep({ ...mlp, spec: mlpSpec, from, evidenceOf: everyNode });
    // A matrix product whose inputs all come from earlier nodes (the hidden layer's).
    const evidence = trace.evidence.find(
      (e) => e.opType === "Gemm" && nodeInputs(nodes[e.node]!).every((name) => e.inputs.has(name)),
    )!;
    const same = await runOperator(stepGraph, evidence.node, evidence.inputs);
    assert.equal(same.sha256, trace.outputs[evidence.node]);
    const [input, tensor] = [...evidence.inputs][0]!;
    const changed = Float32Array.from(tensor.data as Float32Array);
    changed[0]! += 0.25;
    const perturbed = new Map<string, Tensor>([...evidence.inputs, [input, { ...tensor, data: changed }]]);
    const other = await runOperator(stepGraph, evidence.node, perturbed);
    assert.notEqual(other.sha256, trace.outputs[evidence.node]);
  });

  it("refuses evidence that does not match the agreed hashes, state or earlier outputs", async () => {
    const { store } = await trained("mlp-evidence", mlp, mlpSpec);
    const from = store.read(2).bytes;
    const first = await traceStep({ ...mlp, spec: mlpSpec, from });
    const late = first.graphNodes - 1;
    const trace = await traceStep({ ...mlp, spec: mlpSpec, from, evidenceOf: [late] });
    const stepGraph = await stepGraphOf({ ...mlp, spec: mlpSpec }, trace.step);
    const evidence = trace.evidence[0]!;
    const agreed = narrowed(trace, late, from);
    checkEvidence(evidence, agreed, stepGraph);
    const refused = (change: Partial<typeof agreed>, what: RegExp) =>
      assert.throws(
        () => checkEvidence(evidence, { ...agreed, ...change }, stepGraph),
        (error: unknown) => {
          assert.ok(error instanceof EvidenceError);
          assert.match(error.message, what);
          return true;
        },
      );
    refused({ cumulativeLo: trace.cumulative[late - 1]! }, /chain to/);
    refused({ step: agreed.step + 1n }, /narrowed to node/);
    refused({ agreedState: `0x${"00".repeat(32)}` }, /not to the agreed state/);
    assert.ok(evidence.inputs.size > 0, "the last node reads an earlier node's output");
    const [name, tensor] = [...evidence.inputs][0]!;
    const altered = tensor.data.slice() as Float32Array;
    altered[0] = altered[0]! + 1;
    const forged = {
      ...evidence,
      inputs: new Map([...evidence.inputs, [name, { ...tensor, data: altered }]]),
    };
    assert.throws(() => checkEvidence(forged, agreed, stepGraph), /not an output of an earlier node/);
  });
});
