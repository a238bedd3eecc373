// The three ways two CPU threads can share a training step in onnxruntime 1.30, measured against
// one thread on the same step graph (bench/two-thread-routes.ts):
// - intra-op: one session, two intra-op threads, every kernel split between them (what the engine
//   does with --threads 2);
// - data-parallel: two Node worker threads, each with a one-thread session of the step of half
//   the batch, run at once, a step done when both are. Nothing is exchanged (a real split would
//   still have to add the two halves' gradients and share the update), so it is a ceiling;
// - parallel executor: one session in onnxruntime's parallel mode, both halves in one graph,
//   each half a logic stream of its own (the `session.node_partition_config_file` onnxruntime
//   reads, written here from the partition it dumps), run by two inter-op pool threads.
// Sides alternate in bursts so that each sees the same machine; each keeps its best burst.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import ort from "onnxruntime-node";
import type { Tensor } from "../onnx/index.ts";
import { type IGraphProto, type INodeProto, onnx } from "../onnx/proto.ts";
import { sessionOptions } from "./profile.ts";

export interface StepGraph {
  /** A serialized one-step graph. */
  graph: Uint8Array;
  /** Its inputs, by name. */
  feeds: Map<string, Tensor>;
}

/** Steps per second by the clock, each the best burst. */
export interface RouteRates {
  oneThread: number;
  intraOp: number;
  dataParallel: number;
  parallelExecutor: number;
}

/** The message a half-batch worker posts once its session has run its warm-up steps. */
export const WORKER_READY = "ready";

/** Control words shared with the half-batch workers: [0] the step to run (-1: stop), [1] how many finished it. */
export const CONTROL_WORDS = 2;

const ortFeeds = (feeds: Map<string, Tensor>, prefix = "") =>
  Object.fromEntries([...feeds].map(([name, t]) => [prefix + name, new ort.Tensor(t.dtype, t.data, t.dims)]));

/** `graph` and a copy of itself side by side, every name of the copy and the original prefixed. */
export function twoCopies(graph: Uint8Array, prefixes: readonly [string, string]): Uint8Array {
  const model = onnx.ModelProto.decode(graph);
  const g = model.graph!;
  const copy = (prefix: string): IGraphProto => {
    const name = (n: string | null | undefined) => (n ? prefix + n : "");
    const node = (n: INodeProto): INodeProto => {
      if (n.attribute?.some((a) => a.g || (a.graphs?.length ?? 0) > 0)) {
        throw new Error(`${n.name}: a node with subgraphs cannot be copied by renaming its values`);
      }
      return { ...n, name: name(n.name), input: n.input?.map(name), output: n.output?.map(name) };
    };
    return {
      node: g.node?.map(node),
      initializer: g.initializer?.map((t) => ({ ...t, name: name(t.name) })),
      input: g.input?.map((v) => ({ ...v, name: name(v.name) })),
      output: g.output?.map((v) => ({ ...v, name: name(v.name) })),
      valueInfo: g.valueInfo?.map((v) => ({ ...v, name: name(v.name) })),
    };
  };
  const [a, b] = prefixes.map(copy) as [IGraphProto, IGraphProto];
  const both = (key: "node" | "initializer" | "input" | "output" | "valueInfo") => [
    ...(a[key] ?? []),
    ...(b[key] ?? []),
  ];
  model.graph = onnx.GraphProto.create({
    name: g.name,
    node: both("node"),
    initializer: both("initializer"),
    input: both("input"),
    output: both("output"),
    valueInfo: both("valueInfo"),
  } as IGraphProto);
  return onnx.ModelProto.encode(model).finish();
}

/** A session of two copies of `half`, each copy a logic stream of onnxruntime's parallel executor. */
async function parallelExecutorSession(half: StepGraph, dir: string) {
  const prefixes = ["first half/", "second half/"] as const;
  const bytes = twoCopies(half.graph, prefixes);
  const options = (partition: string): ort.InferenceSession.SessionOptions => ({
    ...sessionOptions(1),
    executionMode: "parallel",
    // onnxruntime schedules each stream on the inter-op pool, whose threads are all but one of
    // this count; the calling thread waits for them (spinning only if inter-op spinning is on).
    interOpNumThreads: 3,
    extra: {
      session: {
        node_partition_config_file: partition,
        intra_op: { allow_spinning: "0" },
        inter_op: { allow_spinning: "0" },
      },
    },
  });
  // Given a file that does not exist, onnxruntime writes its own partition there: one stream.
  const dumped = join(dir, "dumped.json");
  await (await ort.InferenceSession.create(bytes, options(dumped))).release();
  const partition = JSON.parse(readFileSync(dumped, "utf8")) as { streams: string[][] };
  const nodes = partition.streams.flat();
  const split = join(dir, "two-streams.json");
  writeFileSync(
    split,
    JSON.stringify({
      ...partition,
      devices: ["0", "0"],
      streams: [nodes.filter((n) => !n.includes(prefixes[1])), nodes.filter((n) => n.includes(prefixes[1]))],
    }),
  );
  const session = await ort.InferenceSession.create(bytes, options(split));
  return { session, feeds: { ...ortFeeds(half.feeds, prefixes[0]), ...ortFeeds(half.feeds, prefixes[1]) } };
}

/** Two workers, each running `half` on a one-thread session when told to. */
async function halfBatchWorkers(half: StepGraph, warmup: number) {
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  const workers = [0, 1].map(
    () =>
      new Worker(new URL("./half-batch-worker.mjs", import.meta.url), {
        workerData: { graph: half.graph, feeds: [...half.feeds], control, warmup },
      }),
  );
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once("message", (m) => (m === WORKER_READY ? resolve() : reject(new Error(String(m)))));
          w.once("error", reject);
        }),
    ),
  );
  let step = 0;
  return {
    async run() {
      Atomics.store(control, 1, 0);
      Atomics.store(control, 0, ++step);
      Atomics.notify(control, 0);
      for (let done = Atomics.load(control, 1); done < 2; done = Atomics.load(control, 1)) {
        Atomics.wait(control, 1, done);
      }
    },
    async stop() {
      Atomics.store(control, 0, -1);
      Atomics.notify(control, 0);
      await Promise.all(workers.map((w) => new Promise((resolve) => w.once("exit", resolve))));
    },
  };
}

/** Steps per second of one thread, of each two-thread route, on `full` (and `half`, its step of half the batch). */
export async function twoThreadRoutes(
  full: StepGraph,
  half: StepGraph,
  { steps = 100, bursts = 8, warmup = 50 }: { steps?: number; bursts?: number; warmup?: number } = {},
): Promise<RouteRates> {
  const dir = mkdtempSync(join(tmpdir(), "veritrain-routes-"));
  // Whatever was started is stopped, however far the set-up got.
  const sessions: ort.InferenceSession[] = [];
  let workers: Awaited<ReturnType<typeof halfBatchWorkers>> | undefined;
  try {
    sessions.push(
      await ort.InferenceSession.create(full.graph, sessionOptions(1)),
      await ort.InferenceSession.create(full.graph, sessionOptions(2, { spinning: true })),
    );
    const parallel = await parallelExecutorSession(half, dir);
    sessions.push(parallel.session);
    const halves = await halfBatchWorkers(half, warmup);
    workers = halves;
    const fullFeeds = ortFeeds(full.feeds);
    const sides: [keyof RouteRates, () => Promise<unknown>][] = [
      ["oneThread", () => sessions[0]!.run(fullFeeds)],
      ["intraOp", () => sessions[1]!.run(fullFeeds)],
      ["dataParallel", () => halves.run()],
      ["parallelExecutor", () => parallel.session.run(parallel.feeds)],
    ];
    for (const [, run] of sides) for (let i = 0; i < warmup; i++) await run();
    const best = Object.fromEntries(sides.map(([name]) => [name, 0])) as unknown as RouteRates;
    for (let burst = 0; burst < bursts; burst++) {
      for (const [name, run] of sides) {
        const start = performance.now();
        for (let i = 0; i < steps; i++) await run();
        best[name] = Math.max(best[name], (steps * 1000) / (performance.now() - start));
      }
    }
    return best;
  } finally {
    await workers?.stop();
    for (const session of sessions) await session.release();
    rmSync(dir, { recursive: true, force: true });
  }
}
