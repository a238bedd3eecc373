import type { Command } from "commander";
import { DEFAULT_RPC_CORS, type RpcCors, startDevnet } from "../../chain/index.ts";
import { rpcCors, wholeNumber } from "../arguments.ts";
import { fail, onShutdown } from "../process.ts";

export function registerDevnetCommand(program: Command): void {
  program
    .command("devnet")
    .description("Run the single-node Substrate-compatible dev chain (JSON-RPC over WebSocket and HTTP)")
    .option(
      "--port <port>",
      "port for WebSocket and HTTP JSON-RPC on 127.0.0.1",
      wholeNumber("--port", 0),
      9944,
    )
    .option(
      "--block-time <ms>",
      "milliseconds between blocks; 0 seals a block as soon as transactions arrive",
      wholeNumber("--block-time", 0),
      0,
    )
    .option("--manual-seal", "seal a block only when engine_createBlock asks (excludes --block-time)")
    .option("--data-dir <dir>", "keep the chain in this directory across restarts (default: in memory)")
    .option(
      "--rpc-cors <origins>",
      `browser origins allowed to use the RPC, comma-separated (port :* for any), or "all"; requests without an Origin (non-browser clients) are always served (default: ${DEFAULT_RPC_CORS.join(",")})`,
      rpcCors,
    )
    .action(
      async (options: {
        port: number;
        blockTime: number;
        manualSeal?: boolean;
        dataDir?: string;
        rpcCors?: RpcCors;
      }) => {
        try {
          const devnet = await startDevnet({
            port: options.port,
            blockTimeMs: options.blockTime,
            manualSeal: options.manualSeal === true,
            ...(options.rpcCors === undefined ? {} : { rpcCors: options.rpcCors }),
            ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
          });
          process.stdout.write(
            `dev chain ready: ${devnet.wsUrl} (HTTP ${devnet.httpUrl}), genesis ${devnet.genesisHash}\n` +
              `dev accounts //Alice..//Ferdie are funded; //Alice is sudo. Blocks: ${
                options.manualSeal === true
                  ? "on engine_createBlock"
                  : options.blockTime === 0
                    ? "instant seal"
                    : `every ${options.blockTime} ms`
              }; data: ${options.dataDir ?? "in memory"}\n`,
          );
          onShutdown(devnet.stop);
        } catch (error) {
          fail(error);
        }
      },
    );
}
