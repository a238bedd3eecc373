// What a node reports of its compute (protocol/node-wire.ts ComputeReport): the CPU time of its
// whole process while a piece of work runs — onnxruntime computes on threads of its own, so the
// main thread's time alone would miss it — never wall time, which other load on the machine
// stretches. Setting the run up (the data prepared, the step graphs built and compiled) is counted
// apart and left out: a verifier sets up once per audited segment of a few steps, a worker once per
// run of hundreds, so with it in the figure would compare set-ups, not steps. The daemon runs one
// task or audit at a time; its background duties (dispute player, reveals, commitment keeper) are
// polls whose CPU counts in, as it does for every node alike.
import type { ComputeReport } from "../../protocol/node-wire.ts";
import { setUpCpuSeconds } from "../train/run-setup.ts";

/** Starts measuring: the returned function gives the process's CPU seconds since, set-up left out. */
export function cpuMeter(): () => number {
  const before = process.cpuUsage();
  const setUpBefore = setUpCpuSeconds();
  return () => {
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1e6 - (setUpCpuSeconds() - setUpBefore);
  };
}

/** The report of `steps` computed in `cpuSeconds`; none for work without a step or a measured CPU time. */
export function computeReport(cpuSeconds: number, steps: number): ComputeReport | undefined {
  return steps > 0 && cpuSeconds > 0 ? { cpu_seconds: cpuSeconds, steps } : undefined;
}
