// CPU time of each thread of this process (Linux /proc/self/task/<tid>/stat, utime + stime):
// what a loaded machine distorts least, and what shows whether intra-op threads share the work.
import { readdirSync, readFileSync } from "node:fs";

/** /proc reports thread times in USER_HZ ticks, 100 per second on every Linux ABI. */
const TICKS_PER_SECOND = 100;

/** Seconds of CPU by thread id; empty where /proc is not available. */
export function threadCpuSeconds(): Map<number, number> {
  const times = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return times;
  }
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended between the listing and the read
    }
    // Fields after the parenthesised name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    times.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND);
  }
  return times;
}

/** CPU seconds spent by the main thread, by the given threads, and by all others, between two readings. */
export function splitCpu(
  before: Map<number, number>,
  after: Map<number, number>,
  pool: ReadonlySet<number>,
): { main: number; pool: number; other: number } {
  const split = { main: 0, pool: 0, other: 0 };
  for (const [tid, seconds] of after) {
    const used = seconds - (before.get(tid) ?? 0);
    if (tid === process.pid) split.main += used;
    else if (pool.has(tid)) split.pool += used;
    else split.other += used;
  }
  return split;
}
