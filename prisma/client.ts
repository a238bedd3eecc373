// One Prisma client per process, over a pg pool through Prisma's driver adapter (the JS engine,
// which needs no native binary). A `schema` parameter in the URL selects a Postgres schema, the
// way Prisma's own URLs do; tests use it to give every test file a schema of its own.
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client.ts";

export type Database = PrismaClient;

export interface ParsedDatabaseUrl {
  /** The URL pg understands, with the schema moved into the session's search_path. */
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
  if (schema !== "public") parsed.searchParams.set("options", `-c search_path=${schema}`);
  return { connectionString: parsed.toString(), schema };
}

export function createDatabase(url: string, poolSize = 10): Database {
  const { connectionString, schema } = parseDatabaseUrl(url);
  const adapter = new PrismaPg({ connectionString, max: poolSize }, { schema });
  return new PrismaClient({ adapter });
}
