// The inspection worker thread: inspects one upload or prices one model at a time, off the API's
// event loop, and answers with the result, the rejection (a 422 the client caused), or a failure
// (our fault).
import { parentPort } from "node:worker_threads";
import { inspectFile } from "./inspect.ts";
import type { InspectionMessage, InspectionReply, InspectionTask } from "./inspector.ts";
import { priceModel } from "./price.ts";
import { FileRejectedError } from "./rejection.ts";

const port = parentPort!;

function perform(task: InspectionTask) {
  return task.kind === "inspect"
    ? inspectFile(task.request, task.limits)
    : priceModel(task.model, new Map(task.inputShapes), task.limits);
}

port.on("message", ({ id, task }: InspectionMessage) => {
  let reply: InspectionReply;
  try {
    reply = { id, result: perform(task) };
  } catch (error) {
    reply =
      error instanceof FileRejectedError
        ? {
            id,
            rejected: {
              code: error.code,
              message: error.message,
              unsupportedOperators: error.unsupportedOperators,
            },
          }
        : { id, failure: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  port.postMessage(reply);
});

// Loaded: the inspector starts its clock from here, not from the module loading before.
port.postMessage({ ready: true });
