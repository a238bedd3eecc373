// The inspection worker thread: inspects one upload or prices one model at a time, off the API's
// event loop, and answers with the result, the rejection (a 422 the client caused), or a failure
// (our fault).
import { parentPort } from "node:worker_threads";
import { inspectFile } from "./inspect.ts";
import type { InspectionMessage, InspectionReply, InspectionTask } from "./inspector.ts";
import { priceModel } from "./price.ts";
import { probeModel } from "./probe.ts";
import { FileRejectedError } from "./rejection.ts";

const port = parentPort!;

async function perform(task: InspectionTask) {
  switch (task.kind) {
    case "inspect":
      return inspectFile(task.request, task.limits);
    case "price":
      return priceModel(task.model, new Map(task.inputShapes), task.limits);
    case "probe":
      return probeModel(task.model, task.spec, task.dataset);
  }
}

port.on("message", async ({ id, task }: InspectionMessage) => {
  let reply: InspectionReply;
  try {
    reply = { id, result: await perform(task) };
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
