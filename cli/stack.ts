// Brings up everything a Veritrain API needs on one machine: the services whose URLs are not
// configured are started embedded (Postgres, Redis, the dev chain), then the API itself, and with
// the embedded chain the local worker and verifier nodes (two of each unless told otherwise), a
// whistleblower, and a referee ruling on their disputes with the operator's key, the dev chain's
// governance key.
import { join } from "node:path";
import { type RunningApi, startApi } from "../api/server.ts";
import { startDevnet } from "../chain/index.ts";
import { setProtocolParameters } from "../chain-bridge/index.ts";
import { startEmbeddedServices } from "../config/embedded-services.ts";
import type { Config } from "../config/env.ts";
import {
  DEFAULT_LOCAL_NODES,
  fundLocalNodes,
  type LocalNode,
  type LocalNodeCounts,
  type LocalNodes,
  localNodes,
  startLocalNodes,
} from "./local-nodes.ts";

// The dev chain of a local stack seals a block a second, and its windows are sized for a demo:
// an hour for a worker to commit, half a minute for a verifier's replay or a dispute's turn, and
// a job settles about 45 seconds after its training ends (PROTOCOL.md §2 has the production values).
const DEV_BLOCK_TIME_MS = 1_000;
const DEV_STACK_WINDOWS = {
  commitBlocks: 3_600,
  verdictBlocks: 30,
  challengeBlocks: 5,
  revealBlocks: 10,
  roundBlocks: 30,
} as const;

export interface Stack {
  api: RunningApi;
  chainWsUrl: string;
  /** Human-readable lines describing what was started and where. */
  started: string[];
  /** The local nodes' processes (none against a configured chain). */
  nodes: LocalNodes["processes"];
  stop(): Promise<void>;
}

export interface StackOptions {
  /** How many honest workers and verifiers run (`up --workers/--verifiers`). */
  nodes?: LocalNodeCounts;
  /** A node that misbehaves on purpose beside the honest ones (`up --fault`, checked by faultyLocalNode). */
  faulty?: LocalNode;
}

export async function startStack(config: Config, options: StackOptions = {}): Promise<Stack> {
  const nodesToRun = localNodes(options.nodes ?? DEFAULT_LOCAL_NODES, options.faulty);
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
    const embeddedChain = !chainWsUrl;
    if (!chainWsUrl) {
      // Any free port, so two stacks can run side by side.
      const devnet = await startDevnet({
        port: 0,
        dataDir: join(config.dataDir, "chain"),
        blockTimeMs: DEV_BLOCK_TIME_MS,
      });
      stops.push(devnet.stop);
      await setProtocolParameters(devnet.wsUrl, config.operatorSeed, DEV_STACK_WINDOWS);
      // Before the API's bridge signs with the operator's key too: one signer at a time per nonce.
      await fundLocalNodes(devnet.wsUrl, config.operatorSeed, nodesToRun);
      started.push(`embedded dev chain at ${devnet.wsUrl} (a block every ${DEV_BLOCK_TIME_MS / 1000} s)`);
      chainWsUrl = devnet.wsUrl;
    }

    const api = await startApi(config, {
      databaseUrl: services.env.DATABASE_URL,
      redisUrl: services.env.REDIS_URL,
      chainWsUrl,
    });
    stops.push(api.close);
    // Dev accounts stake for the local nodes; against a configured chain, nodes are the operators' own.
    const nodes = embeddedChain
      ? startLocalNodes(nodesToRun, api.url, chainWsUrl, config.dataDir, config.operatorSeed)
      : undefined;
    if (nodes) {
      stops.push(nodes.stop);
      started.push(...nodes.started);
    }
    return { api, chainWsUrl, started, nodes: nodes?.processes ?? [], stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
