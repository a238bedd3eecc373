// What a node reports of its compute (protocol/node-wire.ts ComputeReport): CPU time, never wall
// time, which other load on the machine stretches, taken by measureCpu (train/work-cpu.ts): the
// process's CPU on every thread (onnxruntime computes on threads of its own when it has more than
// one) while the event loop runs the work's own callbacks. The daemon's duties beside the work
// (chain subscriptions, the dispute player, lease heartbeats, reveals) are not counted.
//
// Counted, the same on both sides: every optimizer step (the onnxruntime runs and the batches
// gathered for them), and hashing the states the protocol commits to. A worker: its steps, with
// its checkpoints encoded, hashed and written. A verifier: the start checkpoint decoded and
// checked, the segment's steps, and its transcript's leaves emitted and hashed.
// Left out, on both sides: setting the run up (`setUpProbedRun`: the data prepared, the step
// graphs built, compiled and run once on zeros, which also pays onnxruntime's first-run
// allocations; a verifier's leaf-emitting loop, built on first use, likewise), once per task on
// each side, as replay keeps its set-up between the segments of a task; and moving bytes:
// downloads, uploads, progress reports. A worker's validation passes and the model it builds for
// delivery are left out too: no verifier does them, and a step is what is compared.
import type { ComputeReport } from "../../protocol/node-wire.ts";

/** The report of `steps` computed in `cpuSeconds`; none for work without a step or a measured CPU time. */
export function computeReport(cpuSeconds: number, steps: number): ComputeReport | undefined {
  return steps > 0 && cpuSeconds > 0 ? { cpu_seconds: cpuSeconds, steps } : undefined;
}
