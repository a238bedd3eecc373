// The Veritrain dev chain, started in-process: a single-node Substrate-compatible chain that
// @polkadot/api talks to over WebSocket or HTTP JSON-RPC.
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { BlockProducer } from "./node/block-producer.ts";
import { Chain } from "./node/chain.ts";
import { inlineVerifier } from "./node/inline-verifier.ts";
import { TransactionPool } from "./node/transaction-pool.ts";
import { WorkerVerifier } from "./node/worker-verifier.ts";
import { DEFAULT_RPC_CORS, type RpcCors } from "./rpc/origins.ts";
import { startRpcServer } from "./rpc/server.ts";
import { constructRuntime } from "./runtime/construct-runtime.ts";
import { signatureCryptoReady } from "./runtime/signature.ts";

export type DevnetOptions = {
  /** TCP port for WebSocket and HTTP JSON-RPC; 0 picks a free one. Default 9944. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** 0 (default): seal a block as soon as transactions are ready; otherwise one block per interval. */
  readonly blockTimeMs?: number;
  /** Seal only when engine_createBlock asks (Substrate's manual seal); excludes blockTimeMs > 0. */
  readonly manualSeal?: boolean;
  /** Where the chain is journaled; without it the chain lives in memory only. */
  readonly dataDir?: string;
  /** Worker threads verifying signatures; 0 (default) verifies on the main thread. */
  readonly signatureWorkers?: number;
  /**
   * Browser origins allowed to use the RPC (requests without an Origin always are); default
   * DEFAULT_RPC_CORS: local pages and polkadot.js apps.
   */
  readonly rpcCors?: RpcCors;
};

export type Devnet = {
  readonly wsUrl: string;
  readonly httpUrl: string;
  readonly port: number;
  readonly genesisHash: string;
  /** Stops producing blocks, closes connections and the journal. */
  readonly stop: () => Promise<void>;
};

export class DevnetOptionsError extends Error {
  readonly code = "InvalidDevnetOptions";
}

export async function startDevnet(options: DevnetOptions = {}): Promise<Devnet> {
  const port = options.port ?? 9944;
  const host = options.host ?? "127.0.0.1";
  const blockTimeMs = options.blockTimeMs ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new DevnetOptionsError(`port must be an integer 0..65535, got ${port}`);
  }
  if (
    options.signatureWorkers !== undefined &&
    !(Number.isInteger(options.signatureWorkers) && options.signatureWorkers >= 0)
  ) {
    throw new DevnetOptionsError(
      `signature workers must be a whole number >= 0, got ${options.signatureWorkers}`,
    );
  }
  if (!Number.isInteger(blockTimeMs) || blockTimeMs < 0) {
    throw new DevnetOptionsError(
      `block time must be a whole number of milliseconds >= 0, got ${blockTimeMs}`,
    );
  }
  if (options.manualSeal === true && blockTimeMs > 0) {
    throw new DevnetOptionsError(`manual seal and a block time (${blockTimeMs} ms) exclude each other`);
  }
  await Promise.all([cryptoWaitReady(), signatureCryptoReady]);
  const chain = Chain.open(constructRuntime(), options.dataDir);
  const workers = options.signatureWorkers ?? 0;
  const pool = new TransactionPool(
    chain,
    workers === 0 ? inlineVerifier : await WorkerVerifier.start(workers),
  );
  const producer = new BlockProducer(
    chain,
    pool,
    options.manualSeal === true
      ? { kind: "manual" }
      : blockTimeMs === 0
        ? { kind: "instant" }
        : { kind: "interval", intervalMs: blockTimeMs },
  );
  let server: Awaited<ReturnType<typeof startRpcServer>>;
  try {
    server = await startRpcServer({ chain, pool, producer }, host, port, options.rpcCors ?? DEFAULT_RPC_CORS);
  } catch (error) {
    await pool.verifier.close();
    chain.close();
    throw error;
  }
  producer.start();
  // A client of the interface spec may sign only against a finalized block whose parent it knows
  // (dedot does), which a chain still at genesis cannot offer: it starts with an empty block #1.
  if (chain.head.number === 0) producer.seal();
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      producer.stop();
      await server.close();
      await pool.verifier.close();
      chain.close();
    })();
    return stopped;
  };
  return {
    wsUrl: `ws://${host}:${server.port}`,
    httpUrl: `http://${host}:${server.port}`,
    port: server.port,
    genesisHash: chain.genesisHash,
    stop,
  };
}

export { DEFAULT_RPC_CORS, parseRpcCors, type RpcCors, RpcCorsError } from "./rpc/origins.ts";

/** The Compute pallet's parameters at the dev chain's genesis (PROTOCOL.md §2, "dev" column). */
export { DEV_PARAMETERS } from "./runtime/pallets/compute-storage.ts";
