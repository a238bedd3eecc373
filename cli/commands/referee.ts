import { resolve } from "node:path";
import type { Command } from "commander";
import { NodeChainClient } from "../../chain-bridge/index.ts";
import { ConfigError } from "../../config/errors.ts";
import {
  directoryEvidence,
  type EvidenceSource,
  gatewayEvidence,
} from "../../worker-runtime/node/dispute-evidence.ts";
import { recordedRun } from "../../worker-runtime/node/dispute-records.ts";
import { GatewayClient } from "../../worker-runtime/node/gateway-client.ts";
import { loadIdentity } from "../../worker-runtime/node/identity.ts";
import { Referee } from "../../worker-runtime/node/referee.ts";
import { fail, onShutdown } from "../process.ts";
import { nodeSeed } from "./node.ts";

interface RefereeCommandOptions {
  chain: string;
  seedFile?: string;
  api?: string;
  evidenceDir?: string[];
  inputsDir: string[];
}

export function registerRefereeCommand(program: Command): void {
  program
    .command("referee")
    .description(
      "Rule on pinpoint-game disputes with the governance key: re-run the one operator the game narrowed to on the parties' published inputs and submit resolve_dispute; with --api, rule delivery challenges too (rule_delivery)",
    )
    .requiredOption("--chain <url>", "the chain's WebSocket RPC")
    .option(
      "--seed-file <path>",
      "a file holding the governance (sudo) key's secret URI (default: the VERITRAIN_NODE_SEED variable)",
    )
    .option(
      "--api <url>",
      "the API whose node gateway holds the parties' evidence bundles; read with the governance key, which must be the API's operator key",
    )
    .option(
      "--evidence-dir <dirs...>",
      "evidence directories the parties share instead of a gateway (dispute-evidence.ts directoryEvidence)",
    )
    .requiredOption(
      "--inputs-dir <dirs...>",
      "where each disputed task's model, dataset and spec are kept (<dir>/disputes/<chain task id>/, as a node keeps them)",
    )
    .action(async (options: RefereeCommandOptions) => {
      try {
        const seed = nodeSeed(options.seedFile);
        const evidence: EvidenceSource[] = (options.evidenceDir ?? []).map((dir) =>
          directoryEvidence(resolve(dir)),
        );
        const gateway = options.api ? new GatewayClient(options.api, await loadIdentity(seed)) : null;
        if (gateway) evidence.push(gatewayEvidence(gateway));
        if (evidence.length === 0) {
          throw new ConfigError(
            "INVALID_URL",
            "the referee needs --api, --evidence-dir or both: where the evidence is",
          );
        }
        const chain = await NodeChainClient.connect(options.chain, seed);
        const log = (message: string) =>
          process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), message })}\n`);
        const referee = new Referee({
          chain,
          sudoSeed: seed,
          evidence,
          runOf: async (dispute) => {
            for (const dir of options.inputsDir) {
              const run = recordedRun(resolve(dir), dispute.chainTaskId);
              if (run) return run;
            }
            return null;
          },
          // Delivery challenges are ruled on what the gateway holds (PROTOCOL.md §7).
          ...(gateway ? { deliveries: gateway } : {}),
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
