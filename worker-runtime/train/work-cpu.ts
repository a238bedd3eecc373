// The CPU time of one piece of asynchronous work, in a process that does other things meanwhile.
// A node daemon's event loop interleaves a training or a replay with its own background duties
// (chain subscriptions, the dispute player's polls, lease heartbeats): timing the process from the
// start of the work to its end counts all of those, which on a replay of a few milliseconds is
// most of the figure. So the work's time is taken slice by slice: the process's CPU (every thread:
// onnxruntime's pool threads, V8's helper threads) while the event loop runs a callback belonging
// to the work (its synchronous start, its promise continuations, its timers and immediates, which
// is where onnxruntime-node runs a session), found by the async context the work started. Time
// the event loop spends on other callbacks, or waiting, is not the work's.
import { AsyncLocalStorage, createHook } from "node:async_hooks";

interface Account {
  micros: number;
}

// The account a callback charges: an Account inside measured work, null inside work run apart.
const accounts = new AsyncLocalStorage<Account | null>();

let measuring = 0;
let current: Account | null = null;
let since = 0;
// The accounts of the callbacks the running one interrupted (async_hooks callbacks nest).
const interrupted: Array<Account | null> = [];

const cpuMicros = () => {
  const used = process.cpuUsage();
  return used.user + used.system;
};

function chargeTo(next: Account | null): void {
  if (current === null && next === null) return;
  const now = cpuMicros();
  if (current !== null) current.micros += now - since;
  current = next;
  since = now;
}

const hook = createHook({
  before() {
    interrupted.push(current);
    chargeTo(accounts.getStore() ?? null);
  },
  after() {
    chargeTo(interrupted.pop() ?? null);
  },
});

/**
 * Runs `work` and gives its CPU seconds: the process's while the event loop ran the work's own
 * callbacks, less what it ran `apart`. Measurements may nest: an inner one's time is its own,
 * not the outer one's.
 */
export async function measureCpu<T>(work: () => Promise<T>): Promise<{ result: T; cpuSeconds: number }> {
  const account: Account = { micros: 0 };
  if (measuring++ === 0) {
    interrupted.length = 0;
    hook.enable();
  }
  try {
    const result = await within(account, work);
    return { result, cpuSeconds: account.micros / 1e6 };
  } finally {
    if (--measuring === 0) {
      hook.disable();
      chargeTo(null);
      // Outside a measurement no promise needs its account: no hook slows the process down.
      accounts.disable();
    }
  }
}

/** Runs `work` without charging its CPU to the measurement it is part of, if any. */
export function apart<T>(work: () => T): T {
  return measuring === 0 ? work() : within(null, work);
}

function within<T>(account: Account | null, work: () => T): T {
  const outer = current;
  chargeTo(account);
  try {
    return accounts.run(account, work);
  } finally {
    chargeTo(outer);
  }
}
