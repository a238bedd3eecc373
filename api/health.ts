// Each backing service answers a cheap probe within a deadline; a probe that throws or stalls
// marks its component down, which turns /v1/health into a 503 for load balancers.
export type ComponentState = "up" | "down";

export interface ComponentStatus {
  status: ComponentState;
  latency_ms: number;
  detail?: string;
}

export type HealthProbe = () => Promise<string | undefined>;

export interface HealthProbes {
  database: HealthProbe;
  redis: HealthProbe;
  chain: HealthProbe;
}

const probeTimeoutMs = 2000;

/**
 * Runs a probe. A failure is reported to the world as "unavailable" or a timeout only: its error
 * names internal hosts and ports, so it goes to `logFailure` (the server's log) alone.
 */
export async function runProbe(
  probe: HealthProbe,
  logFailure: (error: unknown) => void,
): Promise<ComponentStatus> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  try {
    const detail = await Promise.race([
      probe(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new Error(`no answer within ${probeTimeoutMs} ms`));
        }, probeTimeoutMs);
      }),
    ]);
    const status: ComponentStatus = { status: "up", latency_ms: Math.round(performance.now() - started) };
    if (detail) status.detail = detail;
    return status;
  } catch (error) {
    logFailure(error);
    return {
      status: "down",
      latency_ms: Math.round(performance.now() - started),
      detail: timedOut ? `no answer within ${probeTimeoutMs} ms` : "unavailable",
    };
  } finally {
    clearTimeout(timer);
  }
}
