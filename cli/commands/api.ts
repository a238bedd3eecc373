import type { Command } from "commander";
import { loadConfig } from "../../config/env.ts";
import { fail, onShutdown } from "../process.ts";
import { startStack } from "../stack.ts";

export function registerApiCommand(program: Command): void {
  program
    .command("api")
    .description("Run the API server (services whose URLs are unset are started embedded)")
    .action(async () => {
      try {
        const stack = await startStack(loadConfig());
        onShutdown(stack.stop);
      } catch (error) {
        fail(error);
      }
    });
}
