import type { Command } from "commander";
import { loadConfig } from "../../config/env.ts";
import { fail, onShutdown } from "../process.ts";
import { startStack } from "../stack.ts";

export function registerUpCommand(program: Command): void {
  program
    .command("up")
    .description("Start the whole system on one machine: database, Redis, dev chain, API and nodes")
    .action(async () => {
      try {
        const stack = await startStack(loadConfig());
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
