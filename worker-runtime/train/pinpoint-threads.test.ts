// The pinpoint game's positions do not depend on the thread count. With two intra-op threads the
// step graph pads some bias-gradient sums (a Pad and a Slice around the ReduceSum,
// autodiff/leading-sum.ts) and so holds more nodes than with one; those helpers fold into the sum's
// position, so the N the quote counts on one thread is the N of a task drawn by a two-thread worker,
// and the referee reruns the padded sum with its helpers.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { denseMlp } from "../../bench/compute-bound.ts";
import type { Tensor } from "../onnx/dtypes.ts";
import { checkpointSha256, decodeCheckpoint } from "./checkpoint.ts";
import { CheckpointDir } from "./checkpoint-dir.ts";
import { readDataset } from "./data/dataset.ts";
import { TrainError } from "./errors.ts";
import { loadZooFixture } from "./fixtures.ts";
import { trainingGraphNodes } from "./graph-size.ts";
import { runOperator, StepReferee, stepGraphOf, traceStep } from "./pinpoint.ts";
import { gamePositions, graphNodes, positionsOf } from "./pinpoint-graphs.ts";
import { replaySegment } from "./replay.ts";
import { train } from "./trainer.ts";

const scratch = mkdtempSync(join(tmpdir(), "veritrain-pinpoint-threads-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

// A [256, 300] hidden-layer gradient (more rows than the Gemm of ones that sums up to 128 takes):
// one thread sums it on onnxruntime's row-sum fast path, two threads only once it is padded to 513
// columns.
const mlp = denseMlp({ widths: [16, 300, 4], batch: 256, samples: 1024 });
const spec = { ...mlp.spec, epochs: undefined, max_steps: 4, checkpoint_every: 2 };
const runWith = (threads: number) => ({ ...mlp, spec, threads });

const described = (positions: ReturnType<typeof gamePositions>) =>
  positions.map(({ node }) => `${node.opType} ${node.name}`);

describe("the pinpoint game's positions with one and two threads", () => {
  it("two threads pad a sum into more nodes but the same positions, which the quote counts on one thread", async () => {
    const one = await stepGraphOf(runWith(1), 1);
    const two = await stepGraphOf(runWith(2), 1);
    assert.ok(graphNodes(two).length > graphNodes(one).length, "two threads pad at least one sum");
    const padded = gamePositions(two).filter((p) => p.members.length > 1);
    assert.ok(padded.length > 0);
    for (const position of padded) {
      assert.equal(position.node.opType, "ReduceSum");
      assert.deepEqual(
        position.members.map((m) => graphNodes(two)[m]!.opType),
        ["Pad", "ReduceSum", "Slice"],
      );
    }
    assert.deepEqual(described(gamePositions(two)), described(gamePositions(one)));
    const read = readDataset(mlp.dataset.bytes, mlp.dataset.fileName);
    const shapes = {
      format: read.format,
      tensors: read.names.map((name) => {
        const { dtype, dims } = read.describe(name)!;
        return { name, dtype, shape: dims };
      }),
    };
    assert.equal(await trainingGraphNodes(mlp.model, spec, shapes, 1), gamePositions(two).length);
  });

  // Padded sums of three axes (a Reshape before the Pad, and after the Slice when more than one
  // axis is left) in the zoo's models at batch sizes where two threads pad them.
  for (const [name, batch] of [
    ["transformer_rows", 64],
    ["mixer", 32],
    ["lstm_tokens", 32],
  ] as const) {
    it(`${name} at batch ${batch}: more nodes with two threads, the same positions`, async () => {
      const zoo = loadZooFixture(name);
      const run = (threads: number) => ({
        ...zoo,
        spec: { ...zoo.spec, batch_size: batch, epochs: undefined, max_steps: 2 },
        threads,
      });
      const [one, two] = [await stepGraphOf(run(1), 1), await stepGraphOf(run(2), 1)];
      assert.ok(graphNodes(two).length > graphNodes(one).length);
      assert.deepEqual(described(gamePositions(two)), described(gamePositions(one)));
    });
  }

  it("a two-thread worker's traced step and a one-thread verifier's have the same N and the same hashes", async () => {
    const dir = join(scratch, "two-threads");
    const result = await train({ ...runWith(2), checkpointDir: dir });
    const step3 = await replaySegment({
      ...runWith(2),
      from: CheckpointDir.open(dir).read(2).bytes,
      toStep: 3,
    });
    const from = step3.bytes;
    const worker = await traceStep({ ...runWith(2), from });
    const verifier = await traceStep({ ...runWith(1), from });
    assert.equal(worker.stateSha256, result.checkpoints[2]!.sha256, "the traced step is the run's");
    assert.equal(worker.graphNodes, verifier.graphNodes);
    assert.deepEqual(worker.operators, verifier.operators);
    // The padded sums give one thread's bits (leading-sum.ts): every position means the same value.
    assert.deepEqual(worker.outputs, verifier.outputs);
  });

  it("the referee reruns a padded sum with its helpers and decides it as the trace does", async () => {
    const dir = join(scratch, "referee");
    await train({ ...runWith(2), checkpointDir: dir });
    const from = CheckpointDir.open(dir).read(2).bytes;
    const stepGraph = await stepGraphOf(runWith(2), 3);
    const positions = gamePositions(stepGraph);
    const padded = positions.flatMap((p, c) => (p.members.length > 1 ? [c] : []));
    // Each padded sum and the position reading it, whose evidence includes the sum's output.
    const readers = padded.map((c) =>
      positions.findIndex((p) => p.inputs.includes(positions[c]!.outputs[0]!)),
    );
    const trace = await traceStep({ ...runWith(2), from, evidenceOf: [...padded, ...readers] });
    const referee = await StepReferee.open(runWith(2), from);
    try {
      for (const evidence of trace.evidence) {
        const agreed = {
          step: BigInt(trace.step),
          node: evidence.node,
          cumulativeLo: trace.cumulative[evidence.node]!,
          agreedState: checkpointSha256(decodeCheckpoint(from)),
        };
        assert.equal(await referee.output(evidence, agreed), trace.outputs[evidence.node]);
      }
    } finally {
      await referee.close();
    }
    const sum = trace.evidence[0]!;
    assert.equal(sum.opType, "ReduceSum");
    // The sum's input is an earlier node's output: perturbed, the rerun disagrees with the trace.
    const [input, tensor] = [...sum.inputs][0]!;
    const changed = Float32Array.from(tensor.data as Float32Array);
    changed[0]! += 0.25;
    const perturbed = new Map<string, Tensor>([...sum.inputs, [input, { ...tensor, data: changed }]]);
    const honest = await runOperator(stepGraph, sum.node, sum.inputs, 2);
    assert.equal(honest.sha256, trace.outputs[sum.node]);
    assert.equal(honest.outputs[0]!.dims.join(), "300", "the position's output is the unpadded sum");
    assert.notEqual((await runOperator(stepGraph, sum.node, perturbed, 2)).sha256, honest.sha256);
  });

  it("refuses a graph whose node names would fold a node after a position that reads it", () => {
    // A user's node named like a helper of a later node: folded, the sum would read its own output.
    const nodes = [
      { name: "/sum/thread_layout/pad", opType: "Relu", input: ["late"], output: ["padded"] },
      { name: "/early", opType: "Relu", input: ["x"], output: ["early"] },
      { name: "/sum", opType: "ReduceSum", input: ["padded"], output: ["sum"] },
      { name: "/late", opType: "Relu", input: ["sum"], output: ["late"] },
    ];
    assert.throws(
      () => positionsOf(nodes, new Set(["late"])),
      (error: unknown) => error instanceof TrainError && error.code === "UNSUPPORTED_MODEL",
    );
    // In order, the helper folds into the node it names: two positions, the first two nodes as one.
    const inOrder = [
      { name: "/sum/thread_layout/pad", opType: "Pad", input: ["x", "pads"], output: ["padded"] },
      { name: "/sum", opType: "ReduceSum", input: ["padded"], output: ["sum"] },
      { name: "/next", opType: "Relu", input: ["sum"], output: ["next"] },
    ];
    const positions = positionsOf(inOrder, new Set(["next"]));
    assert.deepEqual(
      positions.map((p) => [p.node.name, p.members, p.inputs, p.outputs]),
      [
        ["/sum", [0, 1], ["x", "pads"], ["sum"]],
        ["/next", [2], ["sum"], ["next"]],
      ],
    );
  });
});
