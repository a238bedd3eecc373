import { type DType, dtypeFromOnnx, tensorFromNumbers } from "../onnx/dtypes.ts";
import { type IGraphProto, type ITensorProto, type IValueInfoProto, onnx, protoInt } from "../onnx/proto.ts";
import { tensorToProto } from "../onnx/tensor-proto.ts";
import { GraphBuilder } from "./graph-builder.ts";
import { valueInfo } from "./step-graph.ts";
import type { TrainingStepGraph } from "./training-step.ts";

/**
 * Any number of consecutive optimizer steps in one onnxruntime run: an ONNX Loop whose body is
 * the one-step graph, node for node. On a small model the fixed cost of a run (tensors crossing
 * into and out of onnxruntime-node) outweighs the arithmetic, so running a stretch of steps at
 * once is what makes it fast; each step still computes exactly what the one-step graph computes.
 * Each step takes its batch from the whole dataset by sample index, inside the graph: the
 * dataset's tensors go in as they are, with no copy, where stacking the run's batches outside
 * it copied every sample twice (about 3% of a compute-bound step, serial with any threads).
 */
export interface MultiStepGraph {
  bytes: Uint8Array;
  /**
   * The one-step graph's input names. Batch inputs and target take every sample, [samples, ...]
   * (the `samples` input says which make each step's batch); learning rate, step and dropout seed
   * gain a leading axis of one entry per step (its length is the number of steps run); parameters
   * and state are fed once, as before the first step.
   */
  inputs: TrainingStepGraph["inputs"];
  /** The int32 [steps, batch] input: each step's samples in batch order, by index along the first axis of the batch inputs and target. */
  samples: string;
  outputs: {
    /** [steps] losses, in step order. */
    losses: string;
    /** [steps] counts of correct predictions (float32), for classification losses. */
    corrects?: string;
    /** Parameters and state after the last step, by input name. */
    params: Map<string, string>;
    state: Map<string, string>;
  };
  /** With the `leaves` option (see LoopOptions). */
  leaves?: {
    /** The int64 [windows] input: the ascending counts of steps after which the state is emitted, the last = the steps fed. */
    ends: string;
    /** [windows, ...] parameters and state after each of `ends`, by input name. */
    params: Map<string, string>;
    state: Map<string, string>;
  };
}

export interface LoopOptions {
  /**
   * Also output the parameters and state at chosen steps within the run (a verifier's transcript
   * leaves), so that one run replaces a run per leaf: an outer Loop over the windows between them,
   * each an inner Loop of the one-step body, emitting its window's end state as a scan output.
   */
  leaves?: boolean;
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
export function loopTrainingStep(step: TrainingStepGraph, options: LoopOptions = {}): MultiStepGraph {
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
  // With leaves: steps run by the windows before the current one, and the index of a step in the run.
  const OFFSET = `${prefix}offset`;
  const INDEX = `${prefix}index`;
  // Body values are renamed too: a subgraph may not reuse a name of the graph around it.
  const inBody = (name: string) => (name === "" || outer.has(name) ? name : `${prefix}step/${name}`);
  const SAMPLES = `${prefix}samples`;
  const { batch, target, learningRate, step: stepInput, dropoutSeed } = step.inputs;
  const bySample = [...batch, target];
  const perStep = [learningRate, stepInput, ...(dropoutSeed ? [dropoutSeed] : [])];
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
  if (options.leaves)
    body.addNode({ name: INDEX, opType: "Add", input: [ITERATION, OFFSET], output: [INDEX] });
  const take = (input: string, index: string) =>
    body.addNode({
      name: `${prefix}take/${input}`,
      opType: "Gather",
      input: [input, index],
      output: [inBody(input)],
      attributes: { axis: 0 },
    });
  for (const input of [SAMPLES, ...perStep]) take(input, options.leaves ? INDEX : ITERATION);
  for (const input of bySample) take(input, inBody(SAMPLES));
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
  const lossElemType = declared.get(step.outputs.loss)?.type?.tensorType?.elemType;
  const lossType = (lossElemType ? dtypeFromOnnx(lossElemType) : undefined) ?? "float32";
  const stepLoop = (
    trips: string,
    from: (name: string) => string,
    to: (name: string) => string,
    losses: string,
    corrects: string,
  ) => ({
    name: `${prefix}loop`,
    opType: "Loop",
    input: [trips, "", ...carried.map(from)],
    output: [...carried.map(to), losses, ...(step.outputs.correct ? [corrects] : [])],
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
  /** `info` with a first axis `axis` in front of its dims, or (`replacing`) in place of the first. */
  const stacked = (info: IValueInfoProto, axis = "steps", replacing = false): IValueInfoProto => {
    const tensorType = info.type?.tensorType;
    const dims = tensorType?.shape?.dim ?? [];
    return {
      name: info.name,
      type: {
        tensorType: {
          elemType: tensorType?.elemType,
          shape: { dim: [{ dimParam: axis }, ...dims.slice(replacing ? 1 : 0)] },
        },
      },
    };
  };
  const loop = new GraphBuilder(opset);
  const leafOutputs: IValueInfoProto[] = [];
  const added: ITensorProto[] = [];
  const leaf = (name: string) => `${prefix}leaves/${name}`;
  const ENDS = `${prefix}ends`;
  if (options.leaves) {
    const window = windowLoop({
      opset,
      prefix,
      carried,
      stepLoop,
      typed,
      updated,
      lossType,
      correct: !!step.outputs.correct,
    });
    loop.addNode({ name: `${prefix}windows`, opType: "Shape", input: [ENDS], output: [`${prefix}windows`] });
    loop.addNode({
      name: `${prefix}window_trips`,
      opType: "Squeeze",
      input: [`${prefix}windows`],
      output: [`${prefix}window_trips`],
    });
    added.push(...window.initializers);
    loop.addNode({
      name: `${prefix}window_loop`,
      opType: "Loop",
      input: [`${prefix}window_trips`, "", ...carried, ...window.initial],
      output: [
        ...carried.map(final),
        `${prefix}final/offset`,
        LOSSES,
        ...(step.outputs.correct ? [CORRECTS] : []),
        ...carried.map(leaf),
      ],
      attributes: { body: { graph: window.body } },
    });
    leafOutputs.push(...carried.map((name) => stacked(typed(updated(name), leaf(name)), "windows")));
  } else {
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
    loop.addNode(stepLoop(`${prefix}trips`, (name) => name, final, LOSSES, CORRECTS));
  }

  const perStepNames = new Set(perStep);
  const bySampleNames = new Set(bySample);
  const outerInput = (info: IValueInfoProto) => {
    if (perStepNames.has(info.name ?? "")) return stacked(info);
    return bySampleNames.has(info.name ?? "") ? stacked(info, "samples", true) : info;
  };
  const bytes = onnx.ModelProto.encode({
    ...model,
    graph: loop.toGraph(
      `${graph.name ?? "step"}_loop`,
      [
        ...(graph.input ?? []).map(outerInput),
        valueInfo({ name: SAMPLES, dtype: "int32", shape: ["steps", "batch"] }),
        ...(options.leaves ? [valueInfo({ name: ENDS, dtype: "int64", shape: ["windows"] })] : []),
      ],
      [
        ...carried.map((name) => typed(updated(name), final(name))),
        valueInfo({ name: LOSSES, dtype: lossType, shape: ["steps"] }),
        ...(step.outputs.correct ? [valueInfo({ name: CORRECTS, dtype: "float32", shape: ["steps"] })] : []),
        ...leafOutputs,
      ],
      [...initializers, ...added],
    ),
  }).finish();
  const finalOf = (map: Map<string, string>) => new Map([...map.keys()].map((name) => [name, final(name)]));
  return {
    bytes,
    inputs: step.inputs,
    samples: SAMPLES,
    outputs: {
      losses: LOSSES,
      ...(step.outputs.correct ? { corrects: CORRECTS } : {}),
      params: finalOf(step.outputs.params),
      state: finalOf(step.outputs.state),
    },
    ...(options.leaves
      ? {
          leaves: {
            ends: ENDS,
            params: new Map([...step.outputs.params.keys()].map((name) => [name, leaf(name)])),
            state: new Map([...step.outputs.state.keys()].map((name) => [name, leaf(name)])),
          },
        }
      : {}),
  };
}

/**
 * The body of the outer Loop of LoopOptions.leaves: window w runs the steps from the previous
 * window's end to `ends[w]` as an inner Loop (the one-step body, its per-step inputs taken at
 * offset + iteration), appends their losses to those of earlier windows and emits the state.
 */
function windowLoop(w: {
  opset: number;
  prefix: string;
  carried: string[];
  stepLoop: (
    trips: string,
    from: (name: string) => string,
    to: (name: string) => string,
    losses: string,
    corrects: string,
  ) => Parameters<GraphBuilder["addNode"]>[0];
  typed: (name: string, as: string) => IValueInfoProto;
  updated: (name: string) => string;
  lossType: DType;
  correct: boolean;
}): { body: IGraphProto; initial: string[]; initializers: ITensorProto[] } {
  const { prefix, carried, typed, updated, lossType, correct } = w;
  const at = (label: string) => `${prefix}window/${label}`;
  const into = (name: string) => at(`in/${name}`);
  const out = (name: string) => at(`out/${name}`);
  const leaf = (name: string) => at(`leaf/${name}`);
  // The inner body reads the offset by this name from the scope around it.
  const OFFSET = `${prefix}offset`;
  const b = new GraphBuilder(w.opset);
  b.addNode({
    name: at("end"),
    opType: "Gather",
    input: [`${prefix}ends`, at("index")],
    output: [at("end")],
    attributes: { axis: 0 },
  });
  b.addNode({ name: at("trips"), opType: "Sub", input: [at("end"), OFFSET], output: [at("trips")] });
  b.addNode(w.stepLoop(at("trips"), into, out, at("step_losses"), at("step_corrects")));
  const sums = correct ? ["losses", "corrects"] : ["losses"];
  for (const sum of sums) {
    b.addNode({
      name: at(`all_${sum}`),
      opType: "Concat",
      input: [at(sum), at(`step_${sum}`)],
      output: [at(`all_${sum}`)],
      attributes: { axis: 0 },
    });
  }
  for (const name of carried) {
    b.addNode({ name: leaf(name), opType: "Identity", input: [out(name)], output: [leaf(name)] });
  }
  b.addNode({ name: at("continue"), opType: "Identity", input: [at("condition")], output: [at("continue")] });
  const sumInfo = (sum: string, name: string) =>
    valueInfo({ name, dtype: sum === "losses" ? lossType : "float32", shape: ["done"] });
  const body = b.toGraph(
    at("body"),
    [
      valueInfo({ name: at("index"), dtype: "int64", shape: [] }),
      valueInfo({ name: at("condition"), dtype: "bool", shape: [] }),
      ...carried.map((name) => typed(name, into(name))),
      valueInfo({ name: OFFSET, dtype: "int64", shape: [] }),
      ...sums.map((sum) => sumInfo(sum, at(sum))),
    ],
    [
      valueInfo({ name: at("continue"), dtype: "bool", shape: [] }),
      ...carried.map((name) => typed(updated(name), out(name))),
      valueInfo({ name: at("end"), dtype: "int64", shape: [] }),
      ...sums.map((sum) => sumInfo(sum, at(`all_${sum}`))),
      ...carried.map((name) => typed(updated(name), leaf(name))),
    ],
  );
  const initializers = [
    tensorToProto(`${prefix}zero`, tensorFromNumbers("int64", [], [0])),
    ...sums.map((sum) =>
      tensorToProto(
        `${prefix}no_${sum}`,
        tensorFromNumbers(sum === "losses" ? lossType : "float32", [0], []),
      ),
    ),
  ];
  return {
    body,
    initial: [`${prefix}zero`, ...sums.map((sum) => `${prefix}no_${sum}`)],
    initializers,
  };
}
