// The determinism profile: every setting that can change the bits a training step produces.
// Two runs agree bit for bit only within one profile, so it is recorded with the checkpoints,
// a resume under another profile is refused, and verifiers know when to compare exactly.
// How many steps one onnxruntime run takes is not part of it: a Loop of steps and single-step
// runs give the same bits under these settings (trainer.test.ts checks it). The number of
// intra-op threads is: every onnxruntime kernel the step graphs use was measured to give the same
// bits with 1 to 4 threads (threads.test.ts keeps checking it), but a guarantee that rests on
// measurement is recorded, so a replay or resume under another thread count is refused.
// Graph optimisation runs once per step graph, at GRAPH_OPTIMIZATION_LEVEL, and the saved result is
// what every session runs, with optimisation off (optimised-graph.ts): onnxruntime's fusions change
// rounding (a transformer's step differs bit for bit between "all" and no fusion) and are blocked by
// exposing a node's output, so only a graph optimised before anything is exposed keeps every node,
// fused ones included, a kernel of its own whose output the pinpoint game can hash and a referee can
// recompute alone (PROTOCOL.md §6.3-6.4; pinpoint.test.ts checks it). The optimised graph is a
// function of the onnxruntime version and of the CPU features (the layout transforms of level "all"
// pick their block size from the vector width), both recorded here.
import { readFileSync } from "node:fs";
import { arch, platform } from "node:os";
import ort from "onnxruntime-node";
import { TrainError } from "./errors.ts";

export interface DeterminismProfile {
  onnxruntime: string;
  execution_provider: "cpu";
  intra_op_threads: number;
  inter_op_threads: 1;
  execution_mode: "sequential";
  /** The level the step graphs were optimised at, once, before being run as saved with optimisation off. */
  graph_optimization_level: typeof GRAPH_OPTIMIZATION_LEVEL;
  /** The /proc/cpuinfo flags that select MLAS kernels (vector width, FMA, dot-product units). */
  cpu_features: string[];
  cpu_model: string;
  platform: string;
  node: string;
}

/** Flags whose presence changes which kernels onnxruntime's MLAS dispatches to, hence rounding. */
const KERNEL_SELECTING_FLAGS = [
  "sse3",
  "ssse3",
  "sse4_1",
  "sse4_2",
  "avx",
  "avx2",
  "fma",
  "f16c",
  "avx512f",
  "avx512bw",
  "avx512dq",
  "avx512vl",
  "avx512_vnni",
  "avx_vnni",
  "avx512_bf16",
  "amx_tile",
  "amx_bf16",
  "amx_int8",
  // arm64
  "asimd",
  "asimddp",
  "sve",
  "sve2",
  "i8mm",
  "bf16",
];

function cpuInfo(): { features: string[]; model: string } {
  let text = "";
  try {
    text = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return { features: [], model: "unknown" };
  }
  const flags = new Set(/^(?:flags|Features)\s*:\s*(.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? []);
  const model = /^(?:model name|CPU part)\s*:\s*(.*)$/m.exec(text)?.[1]?.trim() ?? "unknown";
  return { features: KERNEL_SELECTING_FLAGS.filter((f) => flags.has(f)), model };
}

/** onnxruntime's level for the one optimisation of every step graph (optimised-graph.ts). */
export const GRAPH_OPTIMIZATION_LEVEL = "all";

/** The most intra-op threads a run may ask for. */
export const MAX_THREADS = 64;

/**
 * Session options that realise the profile: `threads` intra-op threads, sequential, no kernel
 * races, and the graph run as given (already optimised, see optimised-graph.ts). With `spinning`,
 * idle pool threads spin through a run and stop at its end; without, they sleep. Speed only, not
 * bits (see cpu-pressure.ts for when the engine spins).
 */
export function sessionOptions(
  threads: number,
  { spinning = false }: { spinning?: boolean } = {},
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "disabled",
    // Warnings (e.g. about unused folded constants) would interleave with the CLI's JSON lines, and
    // errors come back as exceptions the engine reports as TrainErrors naming the node.
    logSeverityLevel: 4,
    // On a loaded machine a spinning thread takes the core its partner needs (two threads measured
    // 2-4x slower than one); on an idle one a sleeping thread wakes too late to share the work.
    extra: {
      session: spinning
        ? { intra_op: { allow_spinning: "1" }, force_spinning_stop: "1" }
        : { intra_op: { allow_spinning: "0" } },
    },
  };
}

/** A thread count a run may use: a whole number from 1 to MAX_THREADS. */
export function checkThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new TrainError(
      "INVALID_SPEC",
      `threads must be a whole number from 1 to ${MAX_THREADS}; got ${threads}`,
    );
  }
  return threads;
}

export function currentProfile(threads = 1): DeterminismProfile {
  const cpu = cpuInfo();
  return {
    onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
    execution_provider: "cpu",
    intra_op_threads: threads,
    inter_op_threads: 1,
    execution_mode: "sequential",
    graph_optimization_level: GRAPH_OPTIMIZATION_LEVEL,
    cpu_features: cpu.features,
    cpu_model: cpu.model,
    platform: `${platform()}-${arch()}`,
    node: process.version,
  };
}

/** Fields that differ, as "field: recorded -> current"; the CPU model name is informative only. */
export function profileDifferences(recorded: DeterminismProfile, current: DeterminismProfile): string[] {
  const keys = Object.keys(current) as Array<keyof DeterminismProfile>;
  return keys
    .filter((k) => k !== "cpu_model" && JSON.stringify(recorded[k]) !== JSON.stringify(current[k]))
    .map((k) => `${k}: ${JSON.stringify(recorded[k])} -> ${JSON.stringify(current[k])}`);
}
