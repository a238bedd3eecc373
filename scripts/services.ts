// Runs a Node script (through tsx, from the repository root) with DATABASE_URL and REDIS_URL set.
// For whichever is unset the embedded service starts here, as `veritrain up` would start it, and
// stops once the script exits.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { startEmbeddedServices } from "../config/embedded-services.ts";

const root = new URL("..", import.meta.url).pathname;

export interface RunOptions {
  /** The folder under .veritrain/ where the embedded services keep their data, fresh each run. */
  dataDir: string;
  env?: NodeJS.ProcessEnv;
}

/** Resolves with the script's exit code. */
export async function runWithServices(args: string[], options: RunOptions): Promise<number> {
  const embeddedPostgres = !process.env.DATABASE_URL;
  const services = await startEmbeddedServices({
    dataDir: join(root, ".veritrain", options.dataDir),
    fresh: true,
  });
  const env: NodeJS.ProcessEnv = { ...process.env, ...services.env, ...options.env };
  // PGlite is one Postgres session shared by all its sockets, so schemas cannot keep processes
  // apart in it: test/support/database.ts then gives each process an in-memory PGlite of its own.
  if (embeddedPostgres) env.VERITRAIN_TEST_PGLITE = "1";
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: root, stdio: "inherit", env });
  // Outlive an interrupt so the services still stop: redis-server would otherwise be left running.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  const code: number = await new Promise((resolve) =>
    child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))),
  );
  process.off("SIGINT", forward);
  process.off("SIGTERM", forward);
  await services.stop();
  return code;
}
