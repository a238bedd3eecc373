// N of the pinpoint game (PROTOCOL.md §6.3, the task's `graph_nodes`): the nodes of the one-step
// training graph of a job's full batches, from the model, the spec and the dataset's tensor shapes.
// The graph is built by our own autodiff code, so this needs no onnxruntime: the API can call it
// when it opens a task on chain. A run's partial last batch has a graph of its own, with the same
// node count for every model of the fixtures; a disputed step's graph whose count differs is
// refused by the players and the referee.
import { buildTrainingStep } from "../autodiff/index.ts";
import { loadModel } from "../onnx/index.ts";
import { prepareData } from "./data/prepare.ts";
import { Xoshiro128 } from "./data/prng.ts";
import { type DatasetShapes, oneSampleDataset, sampleCounts } from "./data/shape-dataset.ts";
import { graphNodes } from "./pinpoint-graphs.ts";
import { parseTrainingSpec } from "./spec.ts";
import { batchGeometry, inputShapesAt, stepOptions } from "./step-options.ts";

export function trainingGraphNodes(modelBytes: Uint8Array, rawSpec: unknown, dataset: DatasetShapes): number {
  const spec = parseTrainingSpec(rawSpec);
  const model = loadModel(modelBytes);
  const samples = sampleCounts(spec, dataset);
  const checked =
    spec.validation && "fraction" in spec.validation ? { ...spec, validation: undefined } : spec;
  const data = prepareData(model, oneSampleDataset(dataset), checked, Xoshiro128.fromSeed(spec.seed));
  const { train } = batchGeometry(data, spec, { train: samples.train, validation: undefined });
  const size = train.sizes[0]!;
  const graph = buildTrainingStep(model, {
    ...stepOptions(model, spec, size),
    inputShapes: inputShapesAt(train, size),
  });
  return graphNodes(graph.bytes).length;
}
