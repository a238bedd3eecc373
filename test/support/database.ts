// Every test file gets a Postgres schema of its own in the database the suite runs against, so
// files run in parallel without seeing each other's rows. The committed migration files are
// applied directly (prisma/migrate.test.ts checks `prisma migrate deploy` itself).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createDatabase, type Database } from "../../prisma/client.ts";
import { migrationNames } from "../../prisma/migrate.ts";
import { createScratchSchema, parseDatabaseUrl, type ScratchSchema } from "../../prisma/pool.ts";

export interface TestDatabase {
  /** DATABASE_URL for this schema, in the `?schema=` form the project's client accepts. */
  url: string;
  schema: string;
  db: Database;
  drop(): Promise<void>;
}

/**
 * With no DATABASE_URL the suite runs on embedded Postgres. PGlite is one Postgres session shared
 * by all its sockets (a `SET search_path` would leak between files), so each test file then gets
 * an in-memory PGlite of its own instead of a schema.
 */
async function embeddedDatabase(): Promise<ScratchSchema> {
  const { startPglite } = await import("../../config/embedded-services.ts");
  const pg = await startPglite(undefined);
  return { schema: "public", url: pg.url, drop: pg.stop };
}

export function suiteDatabaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set: run tests with `npm test`, which provides one");
  return url;
}

export async function createEmptySchema(): Promise<ScratchSchema> {
  if (process.env.VERITRAIN_TEST_PGLITE) return embeddedDatabase();
  return createScratchSchema(suiteDatabaseUrl(), "t_");
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const empty = await createEmptySchema();
  const client = new pg.Client({ connectionString: parseDatabaseUrl(empty.url).connectionString });
  await client.connect();
  try {
    await client.query(`SET search_path TO "${empty.schema}"`);
    for (const name of migrationNames()) {
      const sql = readFileSync(
        fileURLToPath(new URL(`../../prisma/migrations/${name}/migration.sql`, import.meta.url)),
        "utf8",
      );
      await client.query(sql.replace(/^CREATE SCHEMA IF NOT EXISTS "public";$/m, ""));
    }
  } finally {
    await client.end();
  }
  const db = createDatabase(empty.url, 4);
  return {
    url: empty.url,
    schema: empty.schema,
    db,
    async drop() {
      await db.$disconnect();
      await empty.drop();
    },
  };
}
