import { type Command, Option } from "commander";
import { loadConfig } from "../../config/env.ts";
import { wholeNumber } from "../arguments.ts";
import { DEFAULT_LOCAL_NODES, faultyLocalNode, type LocalNodeCounts } from "../local-nodes.ts";
import { fail, onShutdown } from "../process.ts";
import { startStack } from "../stack.ts";

export function registerUpCommand(program: Command): void {
  program
    .command("up")
    .description("Start the whole system on one machine: database, Redis, dev chain, API and nodes")
    .addOption(
      new Option("--workers <n>", "worker nodes to run beside the embedded dev chain")
        .argParser(wholeNumber("--workers", 1))
        .default(DEFAULT_LOCAL_NODES.workers),
    )
    .addOption(
      new Option("--verifiers <n>", "verifier nodes to run beside the embedded dev chain")
        .argParser(wholeNumber("--verifiers", 1))
        .default(DEFAULT_LOCAL_NODES.verifiers),
    )
    .option(
      "--fault <role:mode>",
      "add one node that misbehaves on purpose beside the honest ones, e.g. worker:skip-steps or verifier:lazy (needs VERITRAIN_ALLOW_FAULTS=1, never in production)",
    )
    .action(async (options: LocalNodeCounts & { fault?: string }) => {
      try {
        // Refused before anything starts, with the same rules as `veritrain node --fault`.
        const faulty = options.fault === undefined ? undefined : faultyLocalNode(options.fault);
        const counts = { workers: options.workers, verifiers: options.verifiers };
        const stack = await startStack(loadConfig(), { nodes: counts, ...(faulty ? { faulty } : {}) });
        onShutdown(stack.stop);
        const base = stack.api.url.replace("127.0.0.1", "localhost");
        const lines = [
          "Veritrain is up.",
          ...stack.started.map((line) => `  ${line}`),
          `  API      ${base}/v1`,
          `  Health   ${base}/v1/health`,
          `  Docs     ${base}/docs`,
          `  Portal   ${base}/portal/`,
          "Press Ctrl+C to stop.",
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
      } catch (error) {
        fail(error);
      }
    });
}
