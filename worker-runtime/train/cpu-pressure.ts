// Whether the machine has CPU to spare, from Linux's pressure stall information (PSI). With more
// than one intra-op thread the engine lets onnxruntime's pool threads spin through a run only
// while nothing waits for a CPU: on an idle virtual machine a sleeping pool thread wakes too late
// for most of a step's parallel loops (its CPU halts, and the thread that posted the work does it
// alone), while on a busy one a spinning thread takes the CPU its partner needs. Speed only: the
// partition of every kernel's work depends on the thread count, never on who waits how.
import { readFileSync } from "node:fs";

const PRESSURE_FILE = "/proc/pressure/cpu";

/**
 * Below this share (percent) of the last ten seconds in which some runnable task waited for a
 * CPU, the pool threads spin. An idle machine reads 0–5; one with a busy process more than the
 * cores can hold reads 60–100 (measured on the project's 2-core VM).
 */
export const SPIN_BELOW_PRESSURE = 20;

/** The "some avg10" figure of a /proc/pressure/cpu text, or undefined when it has none. */
export function parseCpuPressure(text: string): number | undefined {
  const match = /^some\b.*\bavg10=([0-9.]+)/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** The CPU pressure of the last ten seconds in percent, or undefined where the kernel does not report it. */
export function cpuPressure(): number | undefined {
  try {
    return parseCpuPressure(readFileSync(PRESSURE_FILE, "utf8"));
  } catch {
    return undefined;
  }
}

/** Whether pool threads may spin now: only where PSI says the CPUs are not contended. */
export function cpuToSpare(): boolean {
  const pressure = cpuPressure();
  return pressure !== undefined && pressure < SPIN_BELOW_PRESSURE;
}
