// A stack that really trains, for tests that watch a job from creation to its end through the
// API: the dev chain in-process with windows sized for a test (a 200 ms block), the API in-process
// on a free port with a schema and queue prefix of its own, and one worker and one verifier as
// `veritrain node` processes (the nodes `veritrain up` runs), which stake, train, commit and audit.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningApi, startApi } from "../../api/server.ts";
import { type Devnet, startDevnet } from "../../chain/index.ts";
import { setProtocolParameters } from "../../chain-bridge/index.ts";
import { type LocalNodes, localNodes, startLocalNodes } from "../../cli/local-nodes.ts";
import { type Config, loadConfig } from "../../config/env.ts";
import { suiteRedisUrl } from "./app.ts";
import { createEmptySchema } from "./database.ts";

const BLOCK_MS = 200;
/** A worker has 12 s to commit, a verifier 8 s to replay its segment; a job settles 2 s after. */
const TEST_WINDOWS = { commitBlocks: 60, verdictBlocks: 40, challengeBlocks: 3, revealBlocks: 8 };

export interface TrainingStack {
  api: RunningApi;
  /** The nodes' logs, for a failed assertion's message. */
  logs(): string;
  stop(): Promise<void>;
}

export async function startTrainingStack(overrides: Partial<Config> = {}): Promise<TrainingStack> {
  const dataDir = mkdtempSync(join(tmpdir(), "veritrain-training-stack-"));
  const stops: Array<() => Promise<void>> = [async () => rmSync(dataDir, { recursive: true, force: true })];
  const stop = async () => {
    for (const next of stops.reverse()) await next();
  };
  try {
    const devnet: Devnet = await startDevnet({ port: 0, blockTimeMs: BLOCK_MS });
    stops.push(devnet.stop);
    await setProtocolParameters(devnet.wsUrl, "//Alice", TEST_WINDOWS);
    // An empty schema: the API applies the migrations itself, as on a fresh machine.
    const schema = await createEmptySchema();
    stops.push(schema.drop);
    const config = {
      ...loadConfig({}),
      ...overrides,
      port: 0,
      dataDir: join(dataDir, "api"),
      logLevel: "warn",
    };
    const api = await startApi(
      config,
      { databaseUrl: schema.url, redisUrl: suiteRedisUrl(), chainWsUrl: devnet.wsUrl },
      { queuePrefix: `training-stack-${process.pid}-${Date.now()}`, verificationPassMs: 250 },
    );
    stops.push(api.close);
    const running = localNodes({ workers: 1, verifiers: 1 });
    const nodes: LocalNodes = startLocalNodes(running, api.url, devnet.wsUrl, dataDir, "//Alice");
    // Nodes stop first: the API they report to is still up while they give their leases back.
    stops.push(nodes.stop);
    const logs = () =>
      nodes.started
        .map((line) => {
          const log = /\(log: (.*)\)$/.exec(line)?.[1];
          return `--- ${line}\n${log ? readFileSync(log, "utf8") : ""}`;
        })
        .join("\n");
    return { api, logs, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
