// Applies the committed migrations with Prisma's own `migrate deploy`, skipping the CLI (slow to
// start) when the database already records every migration folder as applied; and compares them
// with schema.prisma through `migrate diff`.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createScratchSchema, parseDatabaseUrl } from "./pool.ts";

const migrationsDir = fileURLToPath(new URL("./migrations", import.meta.url));
const schemaFile = fileURLToPath(new URL("./schema.prisma", import.meta.url));
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
  // The CLI lingers ~10 s on an internal timer after finishing; the result is re-checked below.
  const deploy = await runPrisma(["migrate", "deploy"], { DATABASE_URL: url }, (stdout) =>
    stdout.includes(successMarker),
  );
  if (deploy.code !== 0 && !deploy.stdout.includes(successMarker)) {
    throw new MigrationError(`prisma migrate deploy failed:\n${deploy.output}`);
  }
  const left = await pendingMigrations(url);
  if (left.length > 0) throw new MigrationError(`migrations still pending after deploy: ${left.join(", ")}`);
  return pending;
}

/**
 * The SQL that brings a database holding the committed migrations up to schema.prisma, or
 * undefined when they agree. The JS schema engine reads no database in a diff but a shadow one, so
 * Prisma replays the migrations in a scratch schema of the database at `url`, dropped afterwards.
 */
export async function unmigratedChanges(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: parseDatabaseUrl(url).connectionString });
  await client.connect();
  const version = await client.query<{ server_version_num: string }>("SHOW server_version_num");
  await client.end();
  if (Number(version.rows[0]?.server_version_num) >= 180000) {
    // Its not-null constraints, new in pg_constraint, crash the engine (prisma/orm#29635).
    throw new MigrationError("prisma migrate diff needs PostgreSQL 17 or older; this server is 18 or newer");
  }
  const scratch = await createScratchSchema(url, "migration_diff_");
  try {
    const diff = await runPrisma(
      [
        "migrate",
        "diff",
        "--from-migrations",
        migrationsDir,
        "--to-schema-datamodel",
        schemaFile,
        "--script",
        "--exit-code",
      ],
      { DATABASE_URL: scratch.url, SHADOW_DATABASE_URL: scratch.url },
    );
    if (diff.code === 0) return undefined;
    if (diff.code === 2) return diff.stdout;
    throw new MigrationError(`prisma migrate diff failed:\n${diff.output}`);
  } finally {
    await scratch.drop();
  }
}

/** Runs Prisma's CLI with our config; `done`, given stdout so far, may end it early. */
async function runPrisma(
  args: string[],
  env: NodeJS.ProcessEnv,
  done?: (stdout: string) => boolean,
): Promise<{ code: number; stdout: string; output: string }> {
  let stdout = "";
  let output = "";
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [prismaCli, ...args, "--config", configFile], {
      env: {
        ...process.env,
        ...env,
        // The JS schema engine needs no binaries, but the CLI checks these paths exist.
        PRISMA_QUERY_ENGINE_LIBRARY: prismaCli,
        PRISMA_SCHEMA_ENGINE_BINARY: prismaCli,
        PRISMA_HIDE_UPDATE_MESSAGE: "1",
        CHECKPOINT_DISABLE: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
      if (done?.(stdout)) child.kill("SIGTERM");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (exitCode) => resolve(exitCode ?? 1));
  });
  return { code, stdout, output };
}
