import type { Command } from "commander";
import { startEmbeddedServices } from "../../config/embedded-services.ts";
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
        const services = await startEmbeddedServices({ dataDir: config.dataDir, redisUrl: "redis://unused" });
        try {
          const applied = await migrate(services.env.DATABASE_URL);
          console.log(applied.length ? `applied ${applied.join(", ")}` : "database is up to date");
        } finally {
          await services.stop();
        }
      } catch (error) {
        fail(error);
      }
    });
}
