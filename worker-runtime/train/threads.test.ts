import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import ort from "onnxruntime-node";
import { denseMlp } from "../../bench/compute-bound.ts";
import { ModelBuilder, seededRandom } from "../autodiff/index.ts";
import { tensorFromNumbers } from "../onnx/dtypes.ts";
import { CheckpointDir } from "./checkpoint-dir.ts";
import { TrainError } from "./errors.ts";
import { loadFixture, loadZooFixture } from "./fixtures.ts";
import { optimisedGraph } from "./optimised-graph.ts";
import { graphNodes } from "./pinpoint-graphs.ts";
import { currentProfile, sessionOptions } from "./profile.ts";
import { train } from "./trainer.ts";

// The determinism profile includes the number of intra-op threads. Measured with onnxruntime
// 1.30: every kernel below gives the same bits whatever the thread count, so a run with n threads
// equals a run with one. The sizes are large enough for onnxruntime to split the work. Each graph
// runs as built and as onnxruntime optimises it (optimised-graph.ts), which is what training runs:
// the fused kernels (FusedGemm, FusedMatMul, FusedConv, the NCHWc convolution) are checked too.

const scratch = mkdtempSync(join(tmpdir(), "veritrain-threads-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const f32 = (dims: number[], value: number) =>
  tensorFromNumbers("float32", dims, new Array(dims.reduce((a, b) => a * b, 1)).fill(value));
const index = (dims: number[], modulo: number) =>
  tensorFromNumbers(
    "int64",
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => (i * 7) % modulo),
  );

/** A second input, fed like a trained parameter: onnxruntime cannot fold it into a constant. */
const WEIGHTS = "w";
const weights = f32([32, 16, 3, 3], 0.01);

/** Name, input shape, graph, and the fused operator ("domain:op") its optimised form must have. */
const kernels: Array<[string, number[], (m: ModelBuilder, x: string) => string, string?]> = [
  [
    "MatMul of a transpose",
    [256, 512],
    (m, x) => m.op("MatMul", [m.op("Transpose", [x], { perm: [1, 0] }), x]),
    "com.microsoft:FusedMatMul",
  ],
  // The SGD momentum update inside a weight gradient's Gemm (optimizers.ts), over more batch rows
  // than MLAS's inner block of 128.
  [
    "Gemm transA with C scaled by beta",
    [256, 512],
    (m, x) => m.op("Gemm", [x, x, m.constant(f32([512, 512], 0.5))], { transA: 1, beta: { float: 0.9 } }),
  ],
  [
    "Gemm with Relu",
    [256, 512],
    (m, x) =>
      m.op("Relu", [m.op("Gemm", [x, m.constant(f32([512, 384], 0.01)), m.constant(f32([384], -0.5))])]),
    "com.microsoft:FusedGemm",
  ],
  [
    "Conv with Relu, weights as an input",
    [8, 16, 32, 32],
    (m, x) =>
      m.op("Relu", [
        m.op("Conv", [x, m.input(WEIGHTS, "float32", weights.dims), m.constant(f32([32], -0.1))], {
          pads: [1, 1, 1, 1],
        }),
      ]),
    "com.microsoft:FusedConv",
  ],
  [
    "Conv with constant weights, NCHWc layout",
    [8, 16, 32, 32],
    (m, x) =>
      m.op("Relu", [
        m.op("Conv", [x, m.constant(f32([32, 16, 3, 3], 0.01)), m.constant(f32([32], -0.1))], {
          pads: [1, 1, 1, 1],
        }),
      ]),
    currentProfile().cpu_features.includes("avx2") ? "com.microsoft.nchwc:Conv" : undefined,
  ],
  ["Gemm transA", [256, 512], (m, x) => m.op("Gemm", [x, x], { transA: 1 })],
  // A weight gradient with its transpose taken once (autodiff/gemm-forms.ts), momentum in C.
  [
    "Gemm of a batch-of-one Transpose, C scaled by beta",
    [128, 768],
    (m, x) => {
      const turned = m.op("Transpose", [m.op("Reshape", [x, m.ints([1, 128, 768])])], { perm: [0, 2, 1] });
      const a = m.op("Reshape", [turned, m.ints([768, 128])]);
      return m.op("Gemm", [a, x, m.constant(f32([768, 768], 0.5))], { beta: { float: 0.9 } });
    },
  ],
  // A bias's batch sum and momentum as one Gemm of a row of ones (autodiff/gemm-forms.ts).
  [
    "Gemm of a row of ones, C scaled by beta",
    [128, 1000],
    (m, x) =>
      m.op("Gemm", [m.constant(f32([1, 128], 1)), x, m.constant(f32([1000], 0.5))], { beta: { float: 0.9 } }),
  ],
  [
    "Conv",
    [8, 16, 32, 32],
    (m, x) =>
      m.op("Conv", [x, m.constant(f32([32, 16, 3, 3], 0.01)), m.constant(f32([32], 0.1))], {
        pads: [1, 1, 1, 1],
      }),
  ],
  [
    "ConvTranspose",
    [8, 16, 32, 32],
    (m, x) => m.op("ConvTranspose", [x, m.constant(f32([16, 8, 3, 3], 0.01))], { pads: [1, 1, 1, 1] }),
  ],
  ["ReduceSum over everything", [1 << 18], (m, x) => m.op("ReduceSum", [x], { keepdims: 0 })],
  ["ReduceSum over the batch", [1024, 256], (m, x) => m.op("ReduceSum", [x, m.ints([0])], { keepdims: 0 })],
  ["ReduceSum over rows", [256, 1024], (m, x) => m.op("ReduceSum", [x, m.ints([1])], { keepdims: 1 })],
  ["ReduceMean", [64, 64, 64], (m, x) => m.op("ReduceMean", [x, m.ints([0, 2])], { keepdims: 0 })],
  ["ReduceMax", [1 << 18], (m, x) => m.op("ReduceMax", [x], { keepdims: 0 })],
  ["Softmax", [64, 4096], (m, x) => m.op("Softmax", [x], { axis: -1 })],
  ["LogSoftmax", [4096, 64], (m, x) => m.op("LogSoftmax", [x], { axis: -1 })],
  [
    "LayerNormalization",
    [256, 1024],
    (m, x) => m.op("LayerNormalization", [x, m.constant(f32([1024], 1))], { axis: -1 }),
  ],
  [
    "BatchNormalization",
    [32, 16, 32, 32],
    (m, x) => m.op("BatchNormalization", [x, ...[1, 0, 0, 1].map((v) => m.constant(f32([16], v)))]),
  ],
  ["MaxPool", [8, 16, 64, 64], (m, x) => m.op("MaxPool", [x], { kernel_shape: [2, 2], strides: [2, 2] })],
  // MaxPool's gradient over disjoint windows (autodiff/gradients.ts): the gradient stored at the indices.
  [
    "MaxUnpool at MaxPool's indices",
    [8, 16, 64, 64],
    (m, x) => {
      const [pooled, indices] = m.node("MaxPool", [x], { kernel_shape: [2, 2], strides: [2, 2] }, 2);
      return m.op("MaxUnpool", [m.op("Neg", [pooled!]), indices!, m.ints([8, 16, 64, 64])], {
        kernel_shape: [2, 2],
        strides: [2, 2],
      });
    },
  ],
  // A convolution's weight gradient (autodiff/conv-forms.ts): the windows of a batch-last image,
  // then their product with the gradient, rows (channels × kernel) at least as many as columns
  // (output channels), over an inner dimension (positions × batch) many times MLAS's block.
  [
    "Gather of an image's windows",
    [16, 34 * 34, 8],
    (m, x) =>
      m.op(
        "Gather",
        [
          x,
          m.constant(
            tensorFromNumbers(
              "int64",
              [9, 1024],
              Array.from({ length: 9 * 1024 }, (_, i) => {
                const [k, o] = [Math.floor(i / 1024), i % 1024];
                return (Math.floor(o / 32) + Math.floor(k / 3)) * 34 + (o % 32) + (k % 3);
              }),
            ),
          ),
        ],
        { axis: 1 },
      ),
  ],
  [
    "Gemm with transB, more rows than columns, a long inner dimension",
    [144, 8192],
    // B computed, not a constant: onnxruntime packs a constant B once, with other blocks.
    (m, x) => m.op("Gemm", [x, m.op("Slice", [x, m.ints([0]), m.ints([32])])], { transB: 1 }),
  ],
  [
    "AveragePool",
    [8, 16, 64, 64],
    (m, x) => m.op("AveragePool", [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
  ],
  [
    "ScatterND add",
    [1 << 16],
    (m, x) => m.op("ScatterND", [x, m.constant(index([1 << 16, 1], 97)), x], { reduction: "add" }),
  ],
  [
    "ScatterElements add",
    [1 << 16],
    (m, x) => m.op("ScatterElements", [x, m.constant(index([1 << 16], 97)), x], { reduction: "add" }),
  ],
  ["CumSum", [64, 4096], (m, x) => m.op("CumSum", [x, m.constant(tensorFromNumbers("int64", [], [1]))])],
  [
    "Resize linear",
    [8, 16, 32, 32],
    (m, x) =>
      m.op("Resize", [x, "", m.constant(tensorFromNumbers("float32", [4], [1, 1, 2, 2]))], {
        mode: "linear",
      }),
  ],
  ["Tanh, Erf, Sigmoid", [1 << 18], (m, x) => m.op("Erf", [m.op("Tanh", [m.op("Sigmoid", [x])])])],
];

describe("onnxruntime kernels give the same bits with 1, 2 and 4 threads, pool threads sleeping or spinning", () => {
  const random = seededRandom(5);
  for (const [name, dims, build, fused] of kernels) {
    it(name, async () => {
      const m = new ModelBuilder(18);
      const y = build(m, m.input("x", "float32", dims));
      m.output(y, "float32");
      const n = dims.reduce((a, b) => a * b, 1);
      const x = new ort.Tensor(
        "float32",
        Float32Array.from({ length: n }, () => random() * 2 - 1),
        dims,
      );
      const settings = [1, 2, 4].flatMap((threads) =>
        threads === 1
          ? [{ threads, spinning: false }]
          : [false, true].map((spinning) => ({ threads, spinning })),
      );
      const optimised = await optimisedGraph(m.bytes());
      if (fused) {
        const ops = graphNodes(optimised).map((node) => `${node.domain ?? ""}:${node.opType}`);
        assert.ok(ops.includes(fused), `optimised to ${ops.join(", ")}`);
      }
      for (const graph of [m.bytes(), optimised]) {
        const hashes = new Set<string>();
        for (const { threads, spinning } of settings) {
          const session = await ort.InferenceSession.create(graph, sessionOptions(threads, { spinning }));
          for (let run = 0; run < 2; run++) {
            const w = new ort.Tensor("float32", weights.data, weights.dims);
            const feeds = Object.fromEntries(
              session.inputNames.map((name) => [name, name === WEIGHTS ? w : x]),
            );
            const data = (await session.run(feeds))[y]!.data as Float32Array;
            hashes.add(
              createHash("sha256")
                .update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
                .digest("hex"),
            );
          }
          await session.release();
        }
        assert.equal(hashes.size, 1);
      }
    });
  }
});

describe("training with several threads", () => {
  const cnn = loadFixture("cnn");
  const spec = { ...cnn.spec, epochs: undefined, max_steps: 20, checkpoint_every: 10 };

  it("gives the checkpoints of one thread and records the thread count in the profile", async () => {
    const one = await train({ ...cnn, spec });
    const dir = join(scratch, "two");
    const two = await train({ ...cnn, spec, threads: 2, checkpointDir: dir });
    assert.deepEqual(
      two.checkpoints.map((c) => c.sha256),
      one.checkpoints.map((c) => c.sha256),
    );
    assert.equal(two.profile.intra_op_threads, 2);
    assert.equal(CheckpointDir.open(dir).manifest.determinism_profile.intra_op_threads, 2);
    await assert.rejects(
      train({ ...cnn, spec, threads: 1, checkpointDir: dir, resume: { dir } }),
      (e: unknown) =>
        e instanceof TrainError &&
        e.code === "CHECKPOINT_MISMATCH" &&
        /intra_op_threads: 2 -> 1/.test(e.message),
    );
    await assert.rejects(
      train({ ...cnn, spec, threads: 0 }),
      (e: unknown) => e instanceof TrainError && e.code === "INVALID_SPEC",
    );
  });

  it("gives the checkpoints of one thread for a weight updated as a row, with and without momentum", async () => {
    // A weight of 153,600 elements (too many to pack) is fed as one row and updated with one Gemm
    // (autodiff/training-step.ts, isRowParameter); with momentum it is folded into the gradient's
    // Gemm, whose inner dimension is the batch: within MLAS's block of 128 rows at 64, past it at 300.
    for (const batch of [64, 300]) {
      for (const momentum of [0, 0.9]) {
        const mlp = denseMlp({ widths: [512, 300, 4], batch, samples: 3 * batch, momentum });
        const run = { ...mlp, spec: { ...mlp.spec, epochs: 2, checkpoint_every: 3 } };
        const one = await train(run);
        const two = await train({ ...run, threads: 2 });
        assert.deepEqual(
          two.checkpoints.map((c) => c.sha256),
          one.checkpoints.map((c) => c.sha256),
          `batch ${batch}, momentum ${momentum}`,
        );
      }
    }
  });

  it("gives the checkpoints of one thread through fused and NCHWc kernels", async () => {
    // The frozen convolution runs in onnxruntime's NCHWc layout, the transformer's products as FusedMatMul.
    const transformer = loadZooFixture("transformer_rows");
    const runs = [
      { ...cnn, spec: { ...spec, max_steps: 12, frozen: ["features.0.weight", "features.0.bias"] } },
      {
        ...transformer,
        spec: { ...transformer.spec, epochs: undefined, max_steps: 12, checkpoint_every: 6 },
      },
    ];
    for (const run of runs) {
      const one = await train(run);
      const two = await train({ ...run, threads: 2 });
      assert.deepEqual(
        two.checkpoints.map((c) => c.sha256),
        one.checkpoints.map((c) => c.sha256),
      );
    }
  });
});
