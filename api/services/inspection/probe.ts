// One training step of a model on zeros shaped like a dataset, on the inspection worker: what a
// quote runs so that a model and dataset that would fail in training are refused before a job
// exists, with the trainer's error naming the node. It answers the position count of the one-step
// training graph, the task's `graph_nodes` on chain (the pinpoint game's N, PROTOCOL.md §6.3).
import { TrainError } from "../../../worker-runtime/train/errors.ts";
import { trainingGraphNodes } from "../../../worker-runtime/train/graph-size.ts";
import { type DatasetShapes, probeTrainingStep } from "../../../worker-runtime/train/probe.ts";
import { FileRejectedError } from "./rejection.ts";

export async function probeModel(model: Uint8Array, spec: unknown, dataset: DatasetShapes): Promise<number> {
  try {
    await probeTrainingStep(model, spec, dataset);
    // Awaited here, so that a graph the game cannot play (its count throws) is refused like the rest.
    return await trainingGraphNodes(model, spec, dataset);
  } catch (error) {
    if (error instanceof TrainError) {
      throw new FileRejectedError(
        "model_not_trainable",
        `The model does not train on this dataset: error [${error.code}] ${error.message}`,
      );
    }
    throw error;
  }
}
