// Database URLs and pg pools. Kept apart from the Prisma client so that prisma.config.ts can use
// it before `prisma generate` has produced the client. A `schema` parameter in the URL selects a
// Postgres schema, the way Prisma's own URLs do; tests use it to give every test file its own.
import { randomBytes } from "node:crypto";
import pg from "pg";

export interface ParsedDatabaseUrl {
  /** The URL pg understands, without Prisma's `schema` parameter. */
  connectionString: string;
  schema: string;
}

export function parseDatabaseUrl(url: string): ParsedDatabaseUrl {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema") ?? "public";
  if (!/^[a-z_][a-z0-9_]*$/i.test(schema)) {
    throw new Error(`database schema name "${schema}" must be a plain identifier`);
  }
  parsed.searchParams.delete("schema");
  return { connectionString: parsed.toString(), schema };
}

/**
 * A pg pool whose every connection works in the URL's schema: Prisma qualifies its own queries,
 * but raw SQL (row locks, migrations) relies on the search_path.
 */
export function createPool(
  url: string,
  max = 10,
  options: pg.PoolConfig = {},
): { pool: pg.Pool; schema: string } {
  const { connectionString, schema } = parseDatabaseUrl(url);
  const pool = new pg.Pool({
    ...options,
    connectionString,
    max,
    // A startup parameter, so the schema is in force before the first query of every connection.
    ...(schema === "public" ? {} : { options: `-c search_path="${schema}"` }),
  });
  // An idle connection dropped by the server (restart, failover) is replaced on next use;
  // without a listener pg would raise it as an uncaught exception.
  pool.on("error", () => undefined);
  return { pool, schema };
}

export interface ScratchSchema {
  schema: string;
  /** `url` with this schema selected. */
  url: string;
  drop(): Promise<void>;
}

/** A new, empty schema beside the one `url` selects, for work that must not see its tables. */
export async function createScratchSchema(url: string, prefix: string): Promise<ScratchSchema> {
  const { connectionString } = parseDatabaseUrl(url);
  const schema = `${prefix}${randomBytes(6).toString("hex")}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE SCHEMA "${schema}"`);
  const scratchUrl = new URL(url);
  scratchUrl.searchParams.set("schema", schema);
  return {
    schema,
    url: scratchUrl.toString(),
    drop: () => run(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
  };
}
