import type { Command } from "commander";
import { registerApiCommand } from "./commands/api.ts";
import { registerBillingCommands } from "./commands/billing.ts";
import { registerDemoCommand } from "./commands/demo.ts";
import { registerDevnetCommand } from "./commands/devnet.ts";
import { registerFilesCommands } from "./commands/files.ts";
import { registerJobsCommands } from "./commands/jobs.ts";
import { registerLoginCommands } from "./commands/login.ts";
import { registerMigrateCommand } from "./commands/migrate.ts";
import { registerNodeCommand } from "./commands/node.ts";
import { registerReceiptCommands } from "./commands/receipt.ts";
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
  registerLoginCommands(program);
  registerFilesCommands(program);
  registerJobsCommands(program);
  registerReceiptCommands(program);
  registerBillingCommands(program);
}
