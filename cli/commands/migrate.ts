import type { Command } from "commander";
import { startPglite } from "../../config/embedded-services.ts";
import { loadConfig } from "../../config/env.ts";
import { migrate } from "../../prisma/migrate.ts";
import { fail } from "../process.ts";

export function registerMigrateCommand(program: Command): void {
  program
    .command("migrate")
    .description("Apply pending database migrations (DATABASE_URL, or the embedded Postgres when unset)")
    .action(async () => {
      try {
        const config = loadConfig();
        const embedded = config.databaseUrl ? undefined : await startPglite(config.dataDir);
        try {
          const applied = await migrate(config.databaseUrl ?? embedded!.url);
          console.log(applied.length ? `applied ${applied.join(", ")}` : "database is up to date");
        } finally {
          await embedded?.stop();
        }
      } catch (error) {
        fail(error);
      }
    });
}
