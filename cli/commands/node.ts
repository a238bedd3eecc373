import { resolve } from "node:path";
import { type Command, Option } from "commander";
import { NODE_ROLES, type NodeRole } from "../../protocol/node-wire.ts";
import { NodeDaemon } from "../../worker-runtime/node/daemon.ts";
import { fail, onShutdown } from "../process.ts";

interface NodeCommandOptions {
  role: NodeRole;
  api: string;
  chain?: string;
  seed: string;
  dataDir: string;
}

export function registerNodeCommand(program: Command): void {
  program
    .command("node")
    .description(
      "Run a node: claim and train tasks (worker), audit them (verifier), or watch (whistleblower)",
    )
    .addOption(new Option("--role <role>", "what this node does").choices(NODE_ROLES).makeOptionMandatory())
    .requiredOption("--api <url>", "the Veritrain API whose node gateway hands out work")
    .option("--chain <url>", "the chain's WebSocket RPC, for staking and commitments")
    .requiredOption("--seed <suri>", "the node's sr25519 secret URI (e.g. //Bob on the dev chain)")
    .option("--data-dir <dir>", "where downloaded inputs and checkpoints are kept", ".veritrain/node")
    .action(async (options: NodeCommandOptions) => {
      try {
        const daemon = await NodeDaemon.start({
          role: options.role,
          apiUrl: options.api,
          ...(options.chain ? { chainUrl: options.chain } : {}),
          seed: options.seed,
          dataDir: resolve(options.dataDir),
          log: (message) =>
            process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), message })}\n`),
        });
        onShutdown(() => daemon.stop());
        await daemon.done();
      } catch (error) {
        fail(error);
      }
    });
}
