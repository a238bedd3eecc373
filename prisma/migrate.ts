// Applies the committed migrations with Prisma's own `migrate deploy`, skipping the CLI (slow to
// start) when the database already records every migration folder as applied.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { parseDatabaseUrl } from "./pool.ts";

const migrationsDir = fileURLToPath(new URL("./migrations", import.meta.url));
const prismaCli = fileURLToPath(new URL("../node_modules/prisma/build/index.js", import.meta.url));
const successMarker = "All migrations have been successfully applied.";
const configFile = fileURLToPath(new URL("../prisma.config.ts", import.meta.url));

export class MigrationError extends Error {
  readonly code = "MIGRATION_FAILED";
  constructor(message: string) {
    super(message);
    this.name = "MigrationError";
  }
}

export function migrationNames(): string[] {
  return readdirSync(migrationsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

export async function pendingMigrations(url: string): Promise<string[]> {
  const { connectionString, schema } = parseDatabaseUrl(url);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const table = await client.query(
      "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = '_prisma_migrations'",
      [schema],
    );
    if (table.rowCount === 0) return migrationNames();
    const applied = await client.query<{ migration_name: string }>(
      `SELECT migration_name FROM "${schema}"._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const done = new Set(applied.rows.map((row) => row.migration_name));
    return migrationNames().filter((name) => !done.has(name));
  } finally {
    await client.end();
  }
}

/** Returns the names of the migrations it applied. */
export async function migrate(url: string): Promise<string[]> {
  const pending = await pendingMigrations(url);
  if (pending.length === 0) return [];
  const { connectionString, schema } = parseDatabaseUrl(url);
  if (schema !== "public") {
    const client = new pg.Client({ connectionString });
    await client.connect();
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.end();
  }
  const output: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [prismaCli, "migrate", "deploy", "--config", configFile], {
      env: {
        ...process.env,
        DATABASE_URL: url,
        // The JS schema engine needs no binaries, but the CLI checks these paths exist.
        PRISMA_QUERY_ENGINE_LIBRARY: prismaCli,
        PRISMA_SCHEMA_ENGINE_BINARY: prismaCli,
        PRISMA_HIDE_UPDATE_MESSAGE: "1",
        CHECKPOINT_DISABLE: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (chunk: Buffer) => {
      output.push(chunk.toString());
      // The CLI lingers ~10 s on an internal timer after finishing; the result is re-checked below.
      if (output.join("").includes(successMarker)) child.kill("SIGTERM");
    });
    child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.on("error", reject);
    child.on("exit", (exitCode) => resolve(exitCode ?? 1));
  });
  const finished = output.join("").includes(successMarker);
  if (code !== 0 && !finished) throw new MigrationError(`prisma migrate deploy failed:\n${output.join("")}`);
  const left = await pendingMigrations(url);
  if (left.length > 0) throw new MigrationError(`migrations still pending after deploy: ${left.join(", ")}`);
  return pending;
}
