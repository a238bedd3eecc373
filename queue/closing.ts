// Closing BullMQ objects, or waiting for work that uses them, is graceful (in-flight commands
// finish, locks are released), but against an unreachable Redis it waits for a reconnect that may
// never come (seen under load: a stop that never ended). A process being stopped
// cannot wait on that: after a deadline its connections are dropped, which fails whatever was
// pending, and the locks it held lapse by themselves.
import { setTimeout as sleep } from "node:timers/promises";

export const CLOSE_DEADLINE_MS = 5_000;

export async function closeWithin(
  graceful: () => Promise<void>,
  force: () => void,
  deadlineMs: number = CLOSE_DEADLINE_MS,
): Promise<void> {
  const timer = new AbortController();
  const closing = graceful().catch(() => undefined);
  await Promise.race([
    closing,
    sleep(deadlineMs, undefined, { signal: timer.signal }).catch(() => undefined),
  ]);
  timer.abort();
  force();
}
