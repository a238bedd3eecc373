// One training step of a model on zeros shaped like a dataset, on the inspection worker: what a
// quote runs so that a model and dataset that would fail in training are refused before a job
// exists, with the trainer's error naming the node.
import { TrainError } from "../../../worker-runtime/train/errors.ts";
import { type DatasetShapes, probeTrainingStep } from "../../../worker-runtime/train/probe.ts";
import { FileRejectedError } from "./rejection.ts";

export async function probeModel(model: Uint8Array, spec: unknown, dataset: DatasetShapes): Promise<null> {
  try {
    await probeTrainingStep(model, spec, dataset);
    return null;
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
