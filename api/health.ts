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

export async function runProbe(probe: HealthProbe): Promise<ComponentStatus> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      probe(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${probeTimeoutMs} ms`)), probeTimeoutMs);
      }),
    ]);
    const status: ComponentStatus = { status: "up", latency_ms: Math.round(performance.now() - started) };
    if (detail) status.detail = detail;
    return status;
  } catch (error) {
    return {
      status: "down",
      latency_ms: Math.round(performance.now() - started),
      detail: error instanceof Error ? error.message : String(error),
    };
  } finally {
    clearTimeout(timer);
  }
}
