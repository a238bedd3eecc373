// Runs upload inspections, and the pricing of models, on a worker thread, one at a time. Parsing
// a 200 MB model or a 2 GB dataset is seconds of CPU that must not stall the API's event loop
// (every other request would wait), and one at a time bounds memory.
//
// An upload is hostile until inspected, so the worker is bounded three ways: the readers refuse
// what a file declares past ContentLimits (and budget the typed arrays they allocate, which live
// outside the JS heap), V8 caps the worker's heap, and a wall clock terminates a worker that
// takes too long. Either of the last two ends that task with a 422 and the next one gets a
// fresh worker: the API itself keeps serving.
import { Worker } from "node:worker_threads";
import { MODEL_LIMITS, type ModelLimits } from "../../../worker-runtime/onnx/index.ts";
import { DATA_LIMITS } from "../../../worker-runtime/train/data/limits.ts";
import type { DatasetShapes } from "../../../worker-runtime/train/probe.ts";
import type { ContentLimits, FileDetails, InspectionRequest } from "./inspect.ts";
import { FileRejectedError, type RejectionCode, type UnsupportedOperator } from "./rejection.ts";

export interface InspectorLimits extends ContentLimits {
  /** Wall-clock time for one task, after which its worker is terminated. */
  timeoutMs: number;
  /** The worker's V8 heap (resourceLimits); ArrayBuffers are outside it, bounded by ContentLimits. */
  maxOldGenerationSizeMb: number;
  maxYoungGenerationSizeMb: number;
}

/**
 * Reading a 2 GB dataset takes a few seconds here, and a JSON or CSV parse of the largest
 * accepted files stays within 2 GB of heap; a minute is far past any honest file.
 */
export const INSPECTOR_LIMITS: Readonly<InspectorLimits> = {
  data: DATA_LIMITS,
  model: MODEL_LIMITS,
  timeoutMs: 60_000,
  maxOldGenerationSizeMb: 2048,
  maxYoungGenerationSizeMb: 64,
};

export interface PricingRequest {
  /** The model's content hash, to name it in messages. */
  sha256: string;
  /** Every graph input's size, batch included. */
  inputShapes: Array<[string, number[]]>;
}

export interface ProbeRequest {
  /** The model's content hash, to name it in messages. */
  sha256: string;
  spec: unknown;
  /** The dataset's format and tensor shapes, as upload inspection recorded them. */
  dataset: DatasetShapes;
}

export type InspectionTask =
  | { kind: "inspect"; request: InspectionRequest; limits: ContentLimits }
  | { kind: "price"; model: Uint8Array; inputShapes: Array<[string, number[]]>; limits: ModelLimits }
  | { kind: "probe"; model: Uint8Array; spec: unknown; dataset: DatasetShapes };

export interface InspectionMessage {
  id: number;
  task: InspectionTask;
}

export type InspectionReply =
  | { id: number; result: FileDetails | number | null }
  | {
      id: number;
      rejected: {
        code: RejectionCode;
        message: string;
        unsupportedOperators: UnsupportedOperator[];
      };
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

/** What a task is, for messages: "Inspecting the model 'mlp.onnx'". */
interface Subject {
  doing: string;
  what: string;
}

export class Inspector {
  /** Resolves once the worker has loaded its modules, which the time limit must not count. */
  private worker: Promise<Worker> | undefined;
  private lastWorkerError: Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;

  constructor(private readonly limits: InspectorLimits = INSPECTOR_LIMITS) {}

  /** The details of a valid model or dataset; rejects with FileRejectedError when it is not one. */
  inspect(request: InspectionRequest): Promise<FileDetails> {
    const { data, model } = this.limits;
    const subject = {
      doing: `Inspecting the ${request.purpose} '${request.filename}'`,
      what: request.purpose,
    };
    return this.enqueue(
      async () => ({ kind: "inspect", request, limits: { data, model } }),
      subject,
    ) as Promise<FileDetails>;
  }

  /**
   * FLOPs of one training step of a model fed inputs of these shapes; rejects with
   * FileRejectedError model_not_priceable when its cost cannot be known before running, or
   * inspection_limit_exceeded.
   * `read` is called when the worker is free, so one model at a time is in memory.
   */
  price(read: () => Promise<Uint8Array>, { sha256, inputShapes }: PricingRequest): Promise<number> {
    const subject = { doing: `Pricing the model ${sha256}`, what: "model" };
    const task = async (): Promise<InspectionTask> => ({
      kind: "price",
      model: await read(),
      inputShapes,
      limits: this.limits.model,
    });
    return this.enqueue(task, subject) as Promise<number>;
  }

  /**
   * Builds the model's training graphs for this spec and runs one step of each on zeros shaped
   * like the dataset; rejects with FileRejectedError model_not_trainable (the trainer's error,
   * naming the node) or inspection_limit_exceeded. `read` is called when the worker is free.
   * Resolves to the node count of the one-step training graph (the task's `graph_nodes`).
   */
  probe(read: () => Promise<Uint8Array>, { sha256, spec, dataset }: ProbeRequest): Promise<number> {
    const subject = { doing: `Running one training step of the model ${sha256}`, what: "model" };
    const task = async (): Promise<InspectionTask> => ({ kind: "probe", model: await read(), spec, dataset });
    return this.enqueue(task, subject) as Promise<number>;
  }

  async close(): Promise<void> {
    const worker = await this.worker?.catch(() => undefined);
    await worker?.terminate();
  }

  private enqueue(task: () => Promise<InspectionTask>, subject: Subject): Promise<unknown> {
    const result = this.queue.then(async () => this.run(await task(), subject));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async run(task: InspectionTask, subject: Subject): Promise<unknown> {
    const worker = await this.started();
    const id = this.nextId++;
    // Held only while working: an idle inspector must not keep the process alive.
    worker.ref();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void worker.terminate();
    }, this.limits.timeoutMs);
    return new Promise<unknown>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("exit", onExit);
        worker.unref();
      };
      const onMessage = (reply: InspectionReply) => {
        if (reply.id !== id) return;
        settle();
        if ("result" in reply) resolve(reply.result);
        else if ("rejected" in reply) {
          const { code, message, unsupportedOperators } = reply.rejected;
          reject(new FileRejectedError(code, message, unsupportedOperators));
        } else reject(new InspectionError("INSPECTION_FAILED", `${subject.doing} failed: ${reply.failure}`));
      };
      const onExit = (exitCode: number) => {
        settle();
        reject(this.exitError(subject, exitCode, timedOut));
      };
      worker.on("message", onMessage);
      worker.on("exit", onExit);
      const message: InspectionMessage = { id, task };
      worker.postMessage(message);
    });
  }

  /** A worker stopped by a limit refuses the content; any other exit is our failure. */
  private exitError({ doing, what }: Subject, exitCode: number, timedOut: boolean): Error {
    if (timedOut) {
      return new FileRejectedError(
        "inspection_limit_exceeded",
        `${doing} took longer than the ${this.limits.timeoutMs / 1000} s one file may take; ` +
          `accepted are files the readers get through in that time (split a larger ${what})`,
      );
    }
    if ((this.lastWorkerError as { code?: unknown } | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY") {
      return new FileRejectedError(
        "inspection_limit_exceeded",
        `${doing} needed more than the ${this.limits.maxOldGenerationSizeMb} MB of memory one file may use; ` +
          `accepted are files the readers get through within it (split a larger ${what})`,
      );
    }
    const reason = this.lastWorkerError?.message ?? `exit code ${exitCode}`;
    return new InspectionError("WORKER_EXITED", `the inspection worker stopped (${doing}): ${reason}`);
  }

  private started(): Promise<Worker> {
    if (this.worker) return this.worker;
    const { maxOldGenerationSizeMb, maxYoungGenerationSizeMb } = this.limits;
    const worker = new Worker(new URL("./worker.mjs", import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb, maxYoungGenerationSizeMb },
    });
    // An 'error' is followed by 'exit', which fails the task in flight with this reason.
    worker.on("error", (error) => {
      this.lastWorkerError = error;
    });
    this.lastWorkerError = undefined;
    const ready = new Promise<Worker>((resolve, reject) => {
      worker.once("message", () => {
        worker.off("exit", onExit);
        worker.unref();
        resolve(worker);
      });
      const onExit = (exitCode: number) => {
        const reason = this.lastWorkerError?.message ?? `exit code ${exitCode}`;
        reject(new InspectionError("WORKER_EXITED", `the inspection worker did not start: ${reason}`));
      };
      worker.once("exit", onExit);
    });
    worker.once("exit", () => {
      if (this.worker === ready) this.worker = undefined;
    });
    this.worker = ready;
    return ready;
  }
}
