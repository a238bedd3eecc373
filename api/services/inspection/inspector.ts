// Runs upload inspections on a worker thread, one at a time. Parsing a 200 MB model or a 2 GB
// dataset is seconds of CPU that must not stall the API's event loop (every other request would
// wait), and one at a time bounds memory: a dataset is parsed whole, at about twice its size.
import { Worker } from "node:worker_threads";
import type { FileDetails, InspectionRequest } from "./inspect.ts";
import { FileRejectedError, type RejectionCode, type UnsupportedOperator } from "./rejection.ts";

export type InspectionReply =
  | { id: number; details: FileDetails }
  | {
      id: number;
      rejected: { code: RejectionCode; message: string; unsupportedOperators: UnsupportedOperator[] };
    }
  | { id: number; failure: string };

export type InspectionErrorCode = "INSPECTION_FAILED" | "WORKER_EXITED";

/** Inspection broke on our side (a bug, or the worker died), as opposed to rejecting the content. */
export class InspectionError extends Error {
  constructor(
    readonly code: InspectionErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "InspectionError";
  }
}

export class Inspector {
  private worker: Worker | undefined;
  private lastWorkerError: Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;

  /** The details of a valid model or dataset; rejects with FileRejectedError when it is not one. */
  inspect(request: InspectionRequest): Promise<FileDetails> {
    const result = this.queue.then(() => this.run(request));
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }

  private run(request: InspectionRequest): Promise<FileDetails> {
    const worker = this.started();
    const id = this.nextId++;
    // Held only while working: an idle inspector must not keep the process alive.
    worker.ref();
    return new Promise<FileDetails>((resolve, reject) => {
      const settle = () => {
        worker.off("message", onMessage);
        worker.off("exit", onExit);
        worker.unref();
      };
      const onMessage = (reply: InspectionReply) => {
        if (reply.id !== id) return;
        settle();
        if ("details" in reply) resolve(reply.details);
        else if ("rejected" in reply) {
          const { code, message, unsupportedOperators } = reply.rejected;
          reject(new FileRejectedError(code, message, unsupportedOperators));
        } else
          reject(
            new InspectionError(
              "INSPECTION_FAILED",
              `inspecting ${request.filename} failed: ${reply.failure}`,
            ),
          );
      };
      const onExit = (exitCode: number) => {
        settle();
        const reason = this.lastWorkerError?.message ?? `exit code ${exitCode}`;
        reject(
          new InspectionError(
            "WORKER_EXITED",
            `the inspection worker stopped while inspecting ${request.filename}: ${reason}`,
          ),
        );
      };
      worker.on("message", onMessage);
      worker.on("exit", onExit);
      worker.postMessage({ id, request });
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./worker.mjs", import.meta.url));
    worker.unref();
    // An 'error' is followed by 'exit', which fails the inspection in flight with this reason.
    worker.on("error", (error) => {
      this.lastWorkerError = error;
    });
    worker.once("exit", () => {
      if (this.worker === worker) this.worker = undefined;
    });
    this.lastWorkerError = undefined;
    this.worker = worker;
    return worker;
  }
}
