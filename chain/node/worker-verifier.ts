// Signature verification on worker threads, so block production and RPC keep the main thread.
// Checks that arrive in the same turn of the event loop travel as one batch to the least busy
// worker (a message per signature would cost more than the verification saves).
import { Worker } from "node:worker_threads";
import type { SignatureCheck } from "../runtime/transaction-check.ts";
import type { VerifyBatch, VerifyResults } from "./signature-worker.ts";
import type { SignatureVerifier } from "./transaction-pool.ts";

/**
 * The worker runs TypeScript like the main thread: it registers tsx's loader before importing its
 * body (a Worker does not inherit the loader hooks that `node --import tsx` installed here).
 */
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})
  .then(({ register }) => { register(); return import(${JSON.stringify(new URL("./signature-worker.ts", import.meta.url).href)}); })`;

type Pending = { readonly resolve: (valid: boolean) => void; readonly reject: (error: Error) => void };
type Lane = { readonly worker: Worker; readonly inFlight: Map<number, Pending[]>; load: number };

export class WorkerVerifier implements SignatureVerifier {
  #nextBatch = 0;
  #queue: Array<{ check: SignatureCheck; pending: Pending }> = [];
  #flushScheduled = false;

  private constructor(readonly lanes: readonly Lane[]) {
    for (const lane of lanes) {
      lane.worker.on("message", (message: VerifyResults) => {
        const waiting = lane.inFlight.get(message.id);
        if (waiting === undefined) return;
        lane.inFlight.delete(message.id);
        lane.load -= waiting.length;
        for (const [index, pending] of waiting.entries()) pending.resolve(message.valid[index] === true);
      });
      lane.worker.on("error", (error) => {
        for (const waiting of lane.inFlight.values()) for (const pending of waiting) pending.reject(error);
        lane.inFlight.clear();
      });
    }
  }

  static async start(workers: number): Promise<WorkerVerifier> {
    const lanes = await Promise.all(
      Array.from({ length: workers }, async () => {
        const worker = new Worker(WORKER_BOOTSTRAP, { eval: true });
        await new Promise<void>((resolve, reject) => {
          worker.once("message", () => resolve());
          worker.once("error", reject);
        });
        return { worker, inFlight: new Map<number, Pending[]>(), load: 0 };
      }),
    );
    return new WorkerVerifier(lanes);
  }

  verify(check: SignatureCheck): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ check, pending: { resolve, reject } });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    const lane = this.lanes.reduce((least, candidate) => (candidate.load < least.load ? candidate : least));
    const id = this.#nextBatch++;
    lane.inFlight.set(
      id,
      queue.map((item) => item.pending),
    );
    lane.load += queue.length;
    lane.worker.postMessage({ id, checks: queue.map((item) => item.check) } satisfies VerifyBatch);
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.worker.terminate()));
  }
}
