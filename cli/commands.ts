import type { Command } from "commander";
import { registerApiCommand } from "./commands/api.ts";
import { registerDemoCommand } from "./commands/demo.ts";
import { registerDevnetCommand } from "./commands/devnet.ts";
import { registerMigrateCommand } from "./commands/migrate.ts";
import { registerNodeCommand } from "./commands/node.ts";
import { registerTrainCommand } from "./commands/train.ts";
import { registerUpCommand } from "./commands/up.ts";

export function registerCommands(program: Command): void {
  registerUpCommand(program);
  registerDemoCommand(program);
  registerApiCommand(program);
  registerMigrateCommand(program);
  registerDevnetCommand(program);
  registerTrainCommand(program);
  registerNodeCommand(program);
}
