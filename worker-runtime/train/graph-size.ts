// N of the pinpoint game (PROTOCOL.md §6.3, the task's `graph_nodes`): the positions of the one-step
// training graph of a job's full batches (its nodes, a thread-layout helper folded into the node it
// serves: pinpoint-graphs.ts), from the model, the spec and the dataset's tensor shapes. That graph
// is onnxruntime's optimisation of the graph autodiff builds (optimised-graph.ts), so N needs
// onnxruntime and is a function of its version and the CPU features, but not of the thread count:
// the API asks the inspection worker, which runs this very function on one thread, before the
// chain draws the worker and with it the task's thread count. A run's partial last batch has a
// graph of its own, with the same count for every model of the fixtures; a disputed step's graph
// whose count differs is refused by the players and the referee.
import { loadModel } from "../onnx/index.ts";
import { prepareData } from "./data/prepare.ts";
import { Xoshiro128 } from "./data/prng.ts";
import { type DatasetShapes, oneSampleDataset, sampleCounts } from "./data/shape-dataset.ts";
import { trainingStepGraph } from "./optimised-graph.ts";
import { gamePositions } from "./pinpoint-graphs.ts";
import { checkThreads } from "./profile.ts";
import { parseTrainingSpec } from "./spec.ts";
import { batchGeometry } from "./step-options.ts";

export async function trainingGraphNodes(
  modelBytes: Uint8Array,
  rawSpec: unknown,
  dataset: DatasetShapes,
  /** The run's intra-op threads: more pad some bias-gradient sums, which changes no position. */
  threads = 1,
): Promise<number> {
  const spec = parseTrainingSpec(rawSpec);
  const model = loadModel(modelBytes);
  const samples = sampleCounts(spec, dataset);
  const checked =
    spec.validation && "fraction" in spec.validation ? { ...spec, validation: undefined } : spec;
  const data = prepareData(model, oneSampleDataset(dataset), checked, Xoshiro128.fromSeed(spec.seed));
  const { train } = batchGeometry(data, spec, { train: samples.train, validation: undefined });
  const graph = await trainingStepGraph(model, spec, train, train.sizes[0]!, checkThreads(threads));
  return gamePositions(graph.bytes).length;
}
