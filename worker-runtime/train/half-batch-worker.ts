// A worker thread of two-thread-routes.ts's data-parallel route: a one-thread session of the step
// of half the batch, run each time the main thread raises the step number, counted when done.
import { parentPort, workerData } from "node:worker_threads";
import ort from "onnxruntime-node";
import type { Tensor } from "../onnx/index.ts";
import { sessionOptions } from "./profile.ts";
import { WORKER_READY } from "./two-thread-routes.ts";

const { graph, feeds, control, warmup } = workerData as {
  graph: Uint8Array;
  feeds: [string, Tensor][];
  control: Int32Array;
  warmup: number;
};
const session = await ort.InferenceSession.create(graph, sessionOptions(1));
const fed = Object.fromEntries(feeds.map(([name, t]) => [name, new ort.Tensor(t.dtype, t.data, t.dims)]));
for (let i = 0; i < warmup; i++) await session.run(fed);
parentPort!.postMessage(WORKER_READY);
for (let seen = 0; ; ) {
  Atomics.wait(control, 0, seen);
  seen = Atomics.load(control, 0);
  if (seen < 0) break;
  await session.run(fed);
  Atomics.add(control, 1, 1);
  Atomics.notify(control, 1);
}
await session.release();
