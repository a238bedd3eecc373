// The inspection worker thread: parses one upload at a time, off the API's event loop, and answers
// with the details, the rejection (a 422 the client caused), or a failure (our fault).
import { parentPort } from "node:worker_threads";
import { type InspectionRequest, inspectFile } from "./inspect.ts";
import type { InspectionReply } from "./inspector.ts";
import { FileRejectedError } from "./rejection.ts";

const port = parentPort!;

port.on("message", ({ id, request }: { id: number; request: InspectionRequest }) => {
  let reply: InspectionReply;
  try {
    reply = { id, details: inspectFile(request) };
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
