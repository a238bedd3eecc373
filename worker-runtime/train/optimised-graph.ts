// The step graphs the engine trains, traces and referees are onnxruntime's own optimisation of the
// graphs autodiff builds: fused kernels (Gemm with its activation, MatMul with a transpose or
// scale, layout kernels) without giving up the pinpoint game. onnxruntime optimises a graph once
// at the profile's level and saves it; every session then runs that saved graph with optimisation
// off, so each of its nodes, fused ones included, stays a kernel of its own whose outputs a
// player can hash and a referee can run alone (PROTOCOL.md §6.3-6.4). Optimising in the session
// instead would fuse differently once the pinpoint trace exposes a node's output.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { buildTrainingStep, type TrainingStepGraph } from "../autodiff/index.ts";
import type { LoadedModel } from "../onnx/index.ts";
import { GRAPH_OPTIMIZATION_LEVEL } from "./profile.ts";
import type { TrainingSpec } from "./spec.ts";
import type { SplitGeometry } from "./step-engine.ts";
import { inputShapesAt, stepOptions } from "./step-options.ts";

/**
 * `graph` as onnxruntime's CPU provider optimises it at the profile's level, serialised. A
 * function of the graph, the onnxruntime version and the CPU features the profile records (layout
 * transforms pick a block size from the vector width), not of the thread count: it is optimised on
 * one thread whatever the run uses.
 */
export async function optimisedGraph(graph: Uint8Array): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), "veritrain-graph-"));
  try {
    const path = join(dir, "optimised.onnx");
    const session = await ort.InferenceSession.create(graph, {
      executionProviders: ["cpu"],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: GRAPH_OPTIMIZATION_LEVEL,
      optimizedModelFilePath: path,
      // onnxruntime warns that a graph saved at level "all" suits only this CPU: the profile says so.
      logSeverityLevel: 4,
    });
    await session.release();
    return new Uint8Array(readFileSync(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The one-step training graph of batches of `size` samples of `split`, optimised: what a run with
 * `threads` intra-op threads trains on, what the pinpoint game traces and referees, and whose node
 * count is the game's N (graph-size.ts).
 */
export async function trainingStepGraph(
  model: LoadedModel,
  spec: TrainingSpec,
  split: SplitGeometry,
  size: number,
  threads: number,
): Promise<TrainingStepGraph> {
  const built = buildTrainingStep(model, {
    ...stepOptions(model, spec, size),
    inputShapes: inputShapesAt(split, size),
    threads,
  });
  return { ...built, bytes: await optimisedGraph(built.bytes) };
}
