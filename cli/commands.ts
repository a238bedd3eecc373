import type { Command } from "commander";

type Registrar = (program: Command) => void;

// Each command's module is loaded only when it runs: the local stack's (Prisma, onnxruntime, the
// chain) take seconds to import, which `veritrain jobs list` should not pay. Help and an unknown
// command load them all, so every command is listed.
const COMMANDS: Record<string, () => Promise<Registrar>> = {
  up: async () => (await import("./commands/up.ts")).registerUpCommand,
  demo: async () => (await import("./commands/demo.ts")).registerDemoCommand,
  api: async () => (await import("./commands/api.ts")).registerApiCommand,
  migrate: async () => (await import("./commands/migrate.ts")).registerMigrateCommand,
  devnet: async () => (await import("./commands/devnet.ts")).registerDevnetCommand,
  train: async () => (await import("./commands/train.ts")).registerTrainCommand,
  node: async () => (await import("./commands/node.ts")).registerNodeCommand,
  referee: async () => (await import("./commands/referee.ts")).registerRefereeCommand,
  login: async () => (await import("./commands/login.ts")).registerLoginCommands,
  files: async () => (await import("./commands/files.ts")).registerFilesCommands,
  jobs: async () => (await import("./commands/jobs.ts")).registerJobsCommands,
  sweeps: async () => (await import("./commands/sweeps.ts")).registerSweepsCommands,
  receipt: async () => (await import("./commands/receipt.ts")).registerReceiptCommands,
  billing: async () => (await import("./commands/billing.ts")).registerBillingCommands,
  webhooks: async () => (await import("./commands/webhooks.ts")).registerWebhooksCommands,
};
/** Commands registered by another command's module. */
const REGISTERED_BY: Record<string, string> = { logout: "login" };

export async function registerCommands(program: Command, commandName: string | undefined): Promise<void> {
  const name = commandName === undefined ? undefined : (REGISTERED_BY[commandName] ?? commandName);
  const one = name === undefined ? undefined : COMMANDS[name];
  for (const load of one ? [one] : Object.values(COMMANDS)) (await load())(program);
}
