import { dtypeFromOnnx } from "../onnx/dtypes.ts";
import { type IGraphProto, type IValueInfoProto, onnx, protoInt } from "../onnx/proto.ts";
import { GraphBuilder } from "./graph-builder.ts";
import { valueInfo } from "./step-graph.ts";
import type { TrainingStepGraph } from "./training-step.ts";

/**
 * Any number of consecutive optimizer steps in one onnxruntime run: an ONNX Loop whose body is
 * the one-step graph, node for node. On a small model the fixed cost of a run (tensors crossing
 * into and out of onnxruntime-node) outweighs the arithmetic, so running a stretch of steps at
 * once is what makes it fast; each step still computes exactly what the one-step graph computes.
 */
export interface MultiStepGraph {
  bytes: Uint8Array;
  /**
   * The one-step graph's input names. Batch inputs, target, learning rate, step and dropout seed
   * gain a leading axis of one entry per step (its length is the number of steps run); parameters
   * and state are fed once, as before the first step.
   */
  inputs: TrainingStepGraph["inputs"];
  outputs: {
    /** [steps] losses, in step order. */
    losses: string;
    /** [steps] counts of correct predictions (float32), for classification losses. */
    corrects?: string;
    /** Parameters and state after the last step, by input name. */
    params: Map<string, string>;
    state: Map<string, string>;
  };
}

/** "loop/", or "loop_<n>/" if some name of the graph already starts with "loop/" (model names are the user's). */
function freePrefix(graph: IGraphProto): string {
  const names = [
    ...(graph.input ?? []),
    ...(graph.output ?? []),
    ...(graph.initializer ?? []),
    ...(graph.node ?? []).flatMap((n) => (n.output ?? []).map((name) => ({ name }))),
  ].map((v) => v.name ?? "");
  let prefix = "loop/";
  for (let n = 1; names.some((name) => name.startsWith(prefix)); n++) prefix = `loop_${n}/`;
  return prefix;
}

/** Wraps the one-step graph `step` into a Loop over the steps fed. */
export function loopTrainingStep(step: TrainingStepGraph): MultiStepGraph {
  const model = onnx.ModelProto.decode(step.bytes);
  const graph: IGraphProto = model.graph ?? {};
  const initializers = graph.initializer ?? [];
  const outer = new Set(initializers.map((t) => t.name ?? ""));
  const opset = protoInt(model.opsetImport?.find((o) => !o.domain)?.version);
  // Every name this adds starts with `prefix`, so none can clash with the step graph's.
  const prefix = freePrefix(graph);
  const ITERATION = `${prefix}iteration`;
  const CONDITION = `${prefix}condition`;
  const CONTINUE = `${prefix}continue`;
  const LOSSES = `${prefix}losses`;
  const CORRECTS = `${prefix}corrects`;
  // Body values are renamed too: a subgraph may not reuse a name of the graph around it.
  const inBody = (name: string) => (name === "" || outer.has(name) ? name : `${prefix}step/${name}`);
  const { batch, target, learningRate, step: stepInput, dropoutSeed } = step.inputs;
  const perStep = [...batch, target, learningRate, stepInput, ...(dropoutSeed ? [dropoutSeed] : [])];
  const updates = new Map([...step.outputs.params, ...step.outputs.state]);
  const carried = [...updates.keys()];
  const updated = (name: string) => updates.get(name) ?? name;
  const declared = new Map([...(graph.input ?? []), ...(graph.output ?? [])].map((v) => [v.name ?? "", v]));
  const typed = (name: string, as: string): IValueInfoProto => ({ ...declared.get(name), name: as });
  const scanned = [step.outputs.loss, ...(step.outputs.correct ? [step.outputs.correct] : [])];
  // A tensor the step leaves unchanged (no gradient reaches it) is passed through explicitly.
  const unchanged = carried.filter((name) => updated(name) === name);
  const bodyOutput = (name: string) =>
    updated(name) === name ? `${prefix}unchanged/${name}` : inBody(updated(name));

  const body = new GraphBuilder(opset);
  for (const input of perStep) {
    body.addNode({
      name: `${prefix}take/${input}`,
      opType: "Gather",
      input: [input, ITERATION],
      output: [inBody(input)],
      attributes: { axis: 0 },
    });
  }
  for (const node of graph.node ?? []) {
    body.addProto({
      ...node,
      input: (node.input ?? []).map(inBody),
      output: (node.output ?? []).map(inBody),
    });
  }
  for (const name of unchanged) {
    body.addNode({
      name: `${prefix}pass/${name}`,
      opType: "Identity",
      input: [inBody(name)],
      output: [bodyOutput(name)],
    });
  }
  body.addNode({ name: CONTINUE, opType: "Identity", input: [CONDITION], output: [CONTINUE] });

  const final = (name: string) => `${prefix}final/${name}`;
  const loop = new GraphBuilder(opset);
  // As many trips as learning rates fed.
  loop.addNode({
    name: `${prefix}count`,
    opType: "Shape",
    input: [learningRate],
    output: [`${prefix}count`],
  });
  loop.addNode({
    name: `${prefix}trips`,
    opType: "Squeeze",
    input: [`${prefix}count`],
    output: [`${prefix}trips`],
  });
  loop.addNode({
    name: `${prefix}loop`,
    opType: "Loop",
    input: [`${prefix}trips`, "", ...carried],
    output: [...carried.map(final), LOSSES, ...(step.outputs.correct ? [CORRECTS] : [])],
    attributes: {
      body: {
        graph: body.toGraph(
          `${prefix}step`,
          [
            valueInfo({ name: ITERATION, dtype: "int64", shape: [] }),
            valueInfo({ name: CONDITION, dtype: "bool", shape: [] }),
            ...carried.map((name) => typed(name, inBody(name))),
          ],
          [
            valueInfo({ name: CONTINUE, dtype: "bool", shape: [] }),
            ...carried.map((name) => typed(updated(name), bodyOutput(name))),
            ...scanned.map((name) => typed(name, inBody(name))),
          ],
        ),
      },
    },
  });

  const stacked = (info: IValueInfoProto): IValueInfoProto => {
    const tensorType = info.type?.tensorType;
    const dims = tensorType?.shape?.dim ?? [];
    return {
      name: info.name,
      type: {
        tensorType: { elemType: tensorType?.elemType, shape: { dim: [{ dimParam: "steps" }, ...dims] } },
      },
    };
  };
  const perStepNames = new Set(perStep);
  const lossElemType = declared.get(step.outputs.loss)?.type?.tensorType?.elemType;
  const lossType = (lossElemType ? dtypeFromOnnx(lossElemType) : undefined) ?? "float32";
  const bytes = onnx.ModelProto.encode({
    ...model,
    graph: loop.toGraph(
      `${graph.name ?? "step"}_loop`,
      (graph.input ?? []).map((info) => (perStepNames.has(info.name ?? "") ? stacked(info) : info)),
      [
        ...carried.map((name) => typed(updated(name), final(name))),
        valueInfo({ name: LOSSES, dtype: lossType, shape: ["steps"] }),
        ...(step.outputs.correct ? [valueInfo({ name: CORRECTS, dtype: "float32", shape: ["steps"] })] : []),
      ],
      initializers,
    ),
  }).finish();
  const finalOf = (map: Map<string, string>) => new Map([...map.keys()].map((name) => [name, final(name)]));
  return {
    bytes,
    inputs: step.inputs,
    outputs: {
      losses: LOSSES,
      ...(step.outputs.correct ? { corrects: CORRECTS } : {}),
      params: finalOf(step.outputs.params),
      state: finalOf(step.outputs.state),
    },
  };
}
