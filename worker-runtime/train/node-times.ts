// Where a step's time goes, node by node: onnxruntime's own profiler (enableProfiling) over
// repeated runs of a graph, each node's median kernel time. Medians shrug off the preemptions of
// a loaded machine, which the sums of a profile do not (bench/step-profile.ts).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import type { Tensor } from "../onnx/index.ts";
import { sessionOptions } from "./profile.ts";

export interface NodeTime {
  /** The node's name in the graph. */
  node: string;
  opType: string;
  /** Median kernel time over the runs, in microseconds. */
  median: number;
}

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** `runs` runs of `graph` on `feeds` (by input name) with `threads` intra-op threads, after one unprofiled warm-up run. */
export async function nodeTimes(
  graph: Uint8Array,
  feeds: Map<string, Tensor>,
  { threads = 1, runs = 50 }: { threads?: number; runs?: number } = {},
): Promise<NodeTime[]> {
  const dir = mkdtempSync(join(tmpdir(), "veritrain-profile-"));
  try {
    const session = await ort.InferenceSession.create(graph, {
      ...sessionOptions(threads, { spinning: threads > 1 }),
      enableProfiling: true,
      profileFilePrefix: join(dir, "step"),
    });
    const fed = Object.fromEntries(
      session.inputNames.map((name) => {
        const t = feeds.get(name);
        if (!t) throw new Error(`no value for graph input ${name}`);
        return [name, new ort.Tensor(t.dtype, t.data, t.dims)];
      }),
    );
    for (let run = 0; run <= runs; run++) await session.run(fed);
    session.endProfiling();
    await session.release();
    const events = readdirSync(dir).flatMap(
      (file) => JSON.parse(readFileSync(join(dir, file), "utf8")) as ProfileEvent[],
    );
    const byNode = new Map<string, { opType: string; times: number[] }>();
    for (const e of events) {
      if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
      const node = e.name.slice(0, -"_kernel_time".length);
      const entry = byNode.get(node) ?? { opType: e.args?.op_name ?? "?", times: [] };
      entry.times.push(e.dur);
      byNode.set(node, entry);
    }
    return [...byNode]
      .map(([node, { opType, times }]) => ({ node, opType, median: median(times.slice(1)) }))
      .sort((a, b) => b.median - a.median);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
