// Brings up everything a Veritrain API needs on one machine: the services whose URLs are not
// configured are started embedded (Postgres, Redis, the dev chain), then the API itself.
import { join } from "node:path";
import { type RunningApi, startApi } from "../api/server.ts";
import { startDevnet } from "../chain-bridge/devnet/index.ts";
import { startEmbeddedServices } from "../config/embedded-services.ts";
import type { Config } from "../config/env.ts";

export interface Stack {
  api: RunningApi;
  chainWsUrl: string;
  /** Human-readable lines describing what was started and where. */
  started: string[];
  stop(): Promise<void>;
}

export async function startStack(config: Config): Promise<Stack> {
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    const services = await startEmbeddedServices({
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
      redisUrl: config.redisUrl,
    });
    stops.push(services.stop);
    const started = [...services.started];

    let chainWsUrl = config.chainWsUrl;
    if (!chainWsUrl) {
      const devnet = await startDevnet({ dataDir: join(config.dataDir, "chain"), blockTimeMs: 0 });
      stops.push(devnet.stop);
      started.push(`embedded dev chain at ${devnet.wsUrl}`);
      chainWsUrl = devnet.wsUrl;
    }

    const api = await startApi(config, {
      databaseUrl: services.env.DATABASE_URL,
      redisUrl: services.env.REDIS_URL,
      chainWsUrl,
    });
    stops.push(api.close);
    return { api, chainWsUrl, started, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
