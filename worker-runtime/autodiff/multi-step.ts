import { type IGraphProto, type INodeProto, type IValueInfoProto, onnx } from "../onnx/proto.ts";
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

const INT = onnx.AttributeProto.AttributeType.INT;

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
  const declared = new Map([...(graph.input ?? []), ...(graph.output ?? [])].map((v) => [v.name ?? "", v]));
  const typed = (name: string, as: string): IValueInfoProto => ({ ...declared.get(name), name: as });
  const scalar = (name: string, elemType: number): IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: [] } } },
  });
  const DataType = onnx.TensorProto.DataType;

  const take = perStep.map(
    (input): INodeProto => ({
      name: `${prefix}take/${input}`,
      opType: "Gather",
      domain: "",
      input: [input, ITERATION],
      output: [inBody(input)],
      attribute: [{ name: "axis", type: INT, i: 0 }],
    }),
  );
  const scanned = [step.outputs.loss, ...(step.outputs.correct ? [step.outputs.correct] : [])];
  // A tensor the step leaves unchanged (no gradient reaches it) is passed through explicitly.
  const unchanged = carried.filter((name) => updates.get(name) === name);
  const bodyOutput = (name: string) => {
    const output = updates.get(name)!;
    return output === name ? `${prefix}unchanged/${name}` : inBody(output);
  };
  const body: IGraphProto = {
    name: `${prefix}step`,
    node: [
      ...take,
      ...(graph.node ?? []).map((node) => ({
        ...node,
        input: (node.input ?? []).map(inBody),
        output: (node.output ?? []).map(inBody),
      })),
      ...unchanged.map((name) => ({
        name: `${prefix}pass/${name}`,
        opType: "Identity",
        domain: "",
        input: [inBody(name)],
        output: [bodyOutput(name)],
      })),
      { name: CONTINUE, opType: "Identity", domain: "", input: [CONDITION], output: [CONTINUE] },
    ],
    input: [
      scalar(ITERATION, DataType.INT64),
      scalar(CONDITION, DataType.BOOL),
      ...carried.map((name) => typed(name, inBody(name))),
    ],
    output: [
      scalar(CONTINUE, DataType.BOOL),
      ...carried.map((name) => typed(updates.get(name)!, bodyOutput(name))),
      ...scanned.map((name) => typed(name, inBody(name))),
    ],
  };

  const final = new Map(carried.map((name) => [name, `${prefix}final/${name}`]));
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
  const lossType = declared.get(step.outputs.loss)?.type?.tensorType?.elemType ?? DataType.FLOAT;
  const vector = (name: string, elemType: number): IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: [{ dimParam: "steps" }] } } },
  });
  const bytes = onnx.ModelProto.encode({
    ...model,
    graph: {
      name: `${graph.name ?? "step"}_loop`,
      node: [
        // As many trips as learning rates fed.
        {
          name: `${prefix}count`,
          opType: "Shape",
          domain: "",
          input: [learningRate],
          output: [`${prefix}count`],
        },
        {
          name: `${prefix}trips`,
          opType: "Squeeze",
          domain: "",
          input: [`${prefix}count`],
          output: [`${prefix}trips`],
        },
        {
          name: `${prefix}loop`,
          opType: "Loop",
          domain: "",
          input: [`${prefix}trips`, "", ...carried],
          output: [
            ...carried.map((name) => final.get(name)!),
            LOSSES,
            ...(step.outputs.correct ? [CORRECTS] : []),
          ],
          attribute: [{ name: "body", type: onnx.AttributeProto.AttributeType.GRAPH, g: body }],
        },
      ],
      input: (graph.input ?? []).map((info) => (perStepNames.has(info.name ?? "") ? stacked(info) : info)),
      output: [
        ...carried.map((name) => typed(updates.get(name)!, final.get(name)!)),
        vector(LOSSES, lossType),
        ...(step.outputs.correct ? [vector(CORRECTS, DataType.FLOAT)] : []),
      ],
      initializer: initializers,
    },
  }).finish();
  const finalOf = (map: Map<string, string>) =>
    new Map([...map.keys()].map((name) => [name, final.get(name)!]));
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
