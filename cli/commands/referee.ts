import { resolve } from "node:path";
import type { Command } from "commander";
import { NodeChainClient } from "../../chain-bridge/index.ts";
import { recordedRun } from "../../worker-runtime/node/dispute-records.ts";
import { Referee } from "../../worker-runtime/node/referee.ts";
import { fail, onShutdown } from "../process.ts";
import { nodeSeed } from "./node.ts";

interface RefereeCommandOptions {
  chain: string;
  seedFile?: string;
  evidenceDir: string[];
  inputsDir: string[];
}

export function registerRefereeCommand(program: Command): void {
  program
    .command("referee")
    .description(
      "Rule on pinpoint-game disputes with the governance key: re-run the one operator the game narrowed to on the parties' published inputs and submit resolve_dispute",
    )
    .requiredOption("--chain <url>", "the chain's WebSocket RPC")
    .option(
      "--seed-file <path>",
      "a file holding the governance (sudo) key's secret URI (default: the VERITRAIN_NODE_SEED variable)",
    )
    .requiredOption(
      "--evidence-dir <dirs...>",
      "where the dispute parties publish their evidence (each node's <data dir>/evidence)",
    )
    .requiredOption(
      "--inputs-dir <dirs...>",
      "where each disputed task's model, dataset and spec are kept (<dir>/disputes/<chain task id>/, as a node keeps them)",
    )
    .action(async (options: RefereeCommandOptions) => {
      try {
        const seed = nodeSeed(options.seedFile);
        const chain = await NodeChainClient.connect(options.chain, seed);
        const log = (message: string) =>
          process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), message })}\n`);
        const referee = new Referee({
          chain,
          sudoSeed: seed,
          evidenceDirs: options.evidenceDir.map((dir) => resolve(dir)),
          runOf: async (dispute) => {
            for (const dir of options.inputsDir) {
              const run = recordedRun(resolve(dir), dispute.chainTaskId);
              if (run) return run;
            }
            return null;
          },
          log,
        });
        const stop = new AbortController();
        onShutdown(async () => stop.abort());
        log(`referee ${chain.address} watching for disputes at the referee's turn`);
        await referee.watchUntilStopped(stop.signal);
        await chain.close();
      } catch (error) {
        fail(error);
      }
    });
}
