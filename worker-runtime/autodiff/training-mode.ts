import { type DType, onnxDataType } from "../onnx/dtypes.ts";
import type { GraphNode } from "../onnx/model.ts";
import type { INodeProto } from "../onnx/proto.ts";
import type { KnownValue, ValueInfo } from "../onnx/shape-rules.ts";
import { reducedCount } from "./gradient-context.ts";
import type { GraphBuilder } from "./graph-builder.ts";
import { recurrent } from "./recurrent.ts";

// Forward nodes that behave differently while training (model.train() in PyTorch). Each rewrite
// emits the training-mode forward computation; the backward walk then differentiates what was
// emitted. Every other node is copied as is.

export interface RewriteContext {
  g: GraphBuilder;
  node: GraphNode;
  info(name: string): ValueInfo;
  value(name: string): KnownValue | undefined;
  /** Graph input holding this step's dropout seed (int64 scalar). */
  dropoutSeed(): string;
  /** Records that state tensor `name` (e.g. a running mean) has the new value `updated`. */
  updateState(name: string, updated: string): void;
}

export type TrainingRewrite = (c: RewriteContext) => void;

function copyWithOutputs(c: RewriteContext, outputs: string[]): void {
  c.g.addProto({ ...c.node.proto, name: c.node.name, input: c.node.inputs, output: outputs });
}

/** Makes the forward node also produce optional outputs a gradient rule reuses. */
function withSavedOutputs(labels: string[]): TrainingRewrite {
  return (c) => {
    const y = c.node.outputs[0]!;
    copyWithOutputs(c, [y, ...labels.map((label, i) => c.node.outputs[i + 1] || `${y}/${label}`)]);
  };
}

/** Batch statistics normalize; running statistics move by momentum, variance unbiased (PyTorch). */
const batchNormalization: TrainingRewrite = (c) => {
  const { g, node } = c;
  const [x, scale, bias, runningMean, runningVar] = node.inputs as [string, string, string, string, string];
  const info = c.info(x);
  const dtype = info.dtype;
  const rank = info.shape.length;
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const momentum = node.attrs.float("momentum", 0.9);
  g.scoped(node.name, () => {
    const sum = g.reduceSum(x, axes, false);
    const count = reducedCount(g, x, info.shape, sum, [info.shape[1]!], dtype);
    const mean = g.op("Div", [sum, count]);
    const spread = Array.from({ length: rank - 2 }, (_, i) => i + 1);
    const centered = g.op("Sub", [x, rank > 2 ? g.op("Unsqueeze", [mean, g.ints(spread)]) : mean]);
    const variance = g.op("Div", [g.reduceSum(g.op("Mul", [centered, centered]), axes, false), count]);
    g.addNode({
      name: node.name,
      opType: "BatchNormalization",
      input: [x, scale, bias, mean, variance],
      output: [node.outputs[0]!],
      attributes: { epsilon: { float: node.attrs.float("epsilon", 1e-5) } },
    });
    const keep = g.scalar(momentum, dtype);
    const take = g.scalar(1 - momentum, dtype);
    const unbiased = g.op("Div", [count, g.op("Sub", [count, g.scalar(1, dtype)])]);
    const blend = (running: string, batch: string) =>
      g.op("Add", [g.op("Mul", [running, keep]), g.op("Mul", [batch, take])]);
    c.updateState(runningMean, blend(runningMean, mean));
    c.updateState(runningVar, blend(runningVar, g.op("Mul", [variance, unbiased])));
  });
};

const HASH_MODULUS = 2147483647;

/**
 * A counter-based hash of (element index, seed, node name) shaped like `like`, below HASH_MODULUS,
 * all in int64 arithmetic that stays below 2^63: every run and every replay draws the same values.
 */
function hashedCounter(g: GraphBuilder, like: string, seed: string, name: string): string {
  const count = g.op("Size", [like]);
  const index = g.reshape(
    g.op("Range", [g.scalar(0, "int64"), count, g.scalar(1, "int64")]),
    g.op("Shape", [like]),
  );
  const salt = g.scalar(Number.parseInt(hashName(name), 16) % 65521, "int64");
  const seeded = g.op("Add", [g.op("Mul", [seed, g.scalar(40503, "int64")]), salt]);
  let h = g.op("Mod", [
    g.op("Add", [g.op("Mul", [index, g.scalar(2654435761, "int64")]), seeded]),
    g.scalar(HASH_MODULUS, "int64"),
  ]);
  for (const increment of [12345, 67891, 23456]) {
    h = g.op("Mod", [
      g.op("Add", [g.op("Mul", [h, g.scalar(48271, "int64")]), g.scalar(increment, "int64")]),
      g.scalar(HASH_MODULUS, "int64"),
    ]);
  }
  return h;
}

function uniformOf(g: GraphBuilder, h: string, dtype: DType): string {
  return g.op("Div", [g.op("Cast", [h], { to: onnxDataType[dtype] }), g.scalar(HASH_MODULUS, dtype)]);
}

/**
 * hashedCounter is affine in the element index modulo a prime: fine for a dropout mask, not for
 * two uniforms that must be independent. Each stream offsets it and squares three times (below
 * 2^31, a square stays below 2^62), which no affine relation between streams survives.
 */
function independentUniforms(
  g: GraphBuilder,
  like: string,
  seed: string,
  name: string,
  dtype: DType,
  streams: number,
): string[] {
  const counter = hashedCounter(g, like, seed, name);
  return Array.from({ length: streams }, (_, stream) => {
    let h = g.op("Mod", [
      g.op("Add", [counter, g.scalar(1 + stream * 104729, "int64")]),
      g.scalar(HASH_MODULUS, "int64"),
    ]);
    for (const increment of [99991, 77777, 31337]) {
      h = g.op("Mod", [
        g.op("Add", [g.op("Mul", [h, h]), g.scalar(increment, "int64")]),
        g.scalar(HASH_MODULUS, "int64"),
      ]);
    }
    return uniformOf(g, h, dtype);
  });
}

/** Inverted dropout with a mask drawn from hashedCounter's uniforms. */
const dropout: TrainingRewrite = (c) => {
  const { g, node } = c;
  const x = node.inputs[0]!;
  const ratioValue = node.inputs[1] ? c.value(node.inputs[1])?.values[0] : 0.5;
  const ratio = typeof ratioValue === "number" ? ratioValue : 0.5;
  const dtype = c.info(x).dtype;
  const y = node.outputs[0]!;
  g.scoped(node.name, () => {
    const uniform = uniformOf(g, hashedCounter(g, x, c.dropoutSeed(), node.name), dtype);
    const kept = g.op("Not", [g.op("Less", [uniform, g.scalar(ratio, dtype)])]);
    const scaledMask = g.op("Mul", [
      g.op("Cast", [kept], { to: onnxDataType[dtype] }),
      g.scalar(1 / (1 - ratio), dtype),
    ]);
    g.addNode({ name: node.name, opType: "Mul", input: [x, scaledMask], output: [y] });
    if (node.outputs[1])
      g.addNode({ name: `${node.name}/mask`, opType: "Identity", input: [kept], output: [node.outputs[1]] });
  });
};

/**
 * RandomNormalLike (torch.randn_like: a VAE's reparameterization noise) and RandomNormal
 * (torch.randn of fixed sizes) from two hashed uniform
 * streams by Box-Muller, so that a run and its replay draw the same noise: per step in training
 * (the dropout seed), and the same draw at every evaluation. PyTorch's generator is not
 * reproduced; its distribution is.
 */
function randomNormal(seed: (c: RewriteContext) => string): TrainingRewrite {
  return (c) => {
    const { g, node } = c;
    const dtype = c.info(node.outputs[0]!).dtype;
    g.scoped(node.name, () => {
      const [u1, u2] = independentUniforms(g, shapedLike(c), seed(c), node.name, dtype, 2) as [
        string,
        string,
      ];
      // 1 - u lies in (0, 1]: its logarithm is finite.
      const radius = g.op("Sqrt", [
        g.op("Mul", [g.op("Log", [g.op("Sub", [g.scalar(1, dtype), u1])]), g.scalar(-2, dtype)]),
      ]);
      const angle = g.op("Mul", [u2, g.scalar(2 * Math.PI, dtype)]);
      const normal = g.op("Mul", [radius, g.op("Cos", [angle])]);
      const scaled = g.op("Mul", [normal, g.scalar(node.attrs.float("scale", 1), dtype)]);
      g.addNode({
        name: node.name,
        opType: "Add",
        input: [scaled, g.scalar(node.attrs.float("mean", 0), dtype)],
        output: [node.outputs[0]!],
      });
    });
  };
}

/** RandomUniformLike (torch.rand_like) and RandomUniform from one stream of independentUniforms, scaled to [low, high). */
function randomUniform(seed: (c: RewriteContext) => string): TrainingRewrite {
  return (c) => {
    const { g, node } = c;
    const dtype = c.info(node.outputs[0]!).dtype;
    g.scoped(node.name, () => {
      const [u] = independentUniforms(g, shapedLike(c), seed(c), node.name, dtype, 1) as [string];
      const low = node.attrs.float("low", 0);
      const spread = g.op("Mul", [u, g.scalar(node.attrs.float("high", 1) - low, dtype)]);
      g.addNode({
        name: node.name,
        opType: "Add",
        input: [spread, g.scalar(low, dtype)],
        output: [node.outputs[0]!],
      });
    });
  };
}

/** The tensor a random node's draw takes its shape from: Random*Like's input, or zeros of RandomNormal/RandomUniform's shape attribute. */
function shapedLike(c: RewriteContext): string {
  const { g, node } = c;
  if (node.opType.endsWith("Like")) return node.inputs[0]!;
  return g.op("ConstantOfShape", [g.ints(node.attrs.ints("shape") ?? [])]);
}

function hashName(name: string): string {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16);
}

export const trainingRewrites: Record<string, TrainingRewrite> = {
  BatchNormalization: batchNormalization,
  Dropout: dropout,
  RandomNormalLike: randomNormal((c) => c.dropoutSeed()),
  RandomUniformLike: randomUniform((c) => c.dropoutSeed()),
  RandomNormal: randomNormal((c) => c.dropoutSeed()),
  RandomUniform: randomUniform((c) => c.dropoutSeed()),
  LayerNormalization: withSavedOutputs(["mean", "inv_std_dev"]),
  MaxPool: withSavedOutputs(["indices"]),
  LSTM: recurrent,
  GRU: recurrent,
  RNN: recurrent,
};

/**
 * A node of a training-mode export as inference runs it: an exporter in training mode leaves
 * Dropout's training_mode input true and BatchNormalization's training_mode attribute set (with
 * its running statistics as extra outputs). Evaluation runs it so, and so does the delivered model.
 */
export function inferenceNode(node: INodeProto): INodeProto {
  if (node.opType === "Dropout" && (node.domain ?? "") === "") {
    const [data, ratio] = node.input ?? [];
    return { ...node, input: ratio ? [data!, ratio] : [data!] };
  }
  if (node.opType === "BatchNormalization" && (node.domain ?? "") === "") {
    const attribute = (node.attribute ?? []).filter((a) => a.name !== "training_mode");
    return { ...node, attribute, output: (node.output ?? []).slice(0, 1) };
  }
  return node;
}

/** Evaluation runs in inference mode whatever the export recorded (inferenceNode). */
export const inferenceRewrites: Record<string, TrainingRewrite> = {
  Dropout: (c) => c.g.addProto(inferenceNode({ ...c.node.proto, name: c.node.name, output: c.node.outputs })),
  BatchNormalization: (c) =>
    c.g.addProto(inferenceNode({ ...c.node.proto, name: c.node.name, output: c.node.outputs })),
  RandomNormalLike: randomNormal((c) => c.g.scalar(0, "int64")),
  RandomUniformLike: randomUniform((c) => c.g.scalar(0, "int64")),
  RandomNormal: randomNormal((c) => c.g.scalar(0, "int64")),
  RandomUniform: randomUniform((c) => c.g.scalar(0, "int64")),
};
