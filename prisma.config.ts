import { PrismaPg } from "@prisma/adapter-pg";
import type pg from "pg";
import type { PrismaConfig } from "prisma";
import { createPool } from "./prisma/pool.ts";

const CHAR_OID = 18;
const TEXT_OID = 25;

/**
 * The WebAssembly schema engine works offline; it reaches the database through the same driver
 * adapter and pool set-up the application uses, with two changes for the CLI. Idle connections do
 * not keep the process alive (pg holds them 10 s, which `migrate diff` would wait out). Postgres's
 * one-byte "char" type, which the engine's catalog queries return, is read as text:
 * @prisma/adapter-pg 7.10.1 has no mapping for it, so the engine could not describe a database.
 */
class CliAdapterFactory extends PrismaPg {
  constructor(url: string) {
    const { pool, schema } = createPool(url, 2, { allowExitOnIdle: true });
    pool.on("connect", (client) => {
      // Ahead of pg's own listener, which sets up the row parsers and the fields the adapter reads.
      (client as pg.Client).connection.prependListener(
        "rowDescription",
        (message: { fields: { dataTypeID: number }[] }) => {
          for (const field of message.fields) if (field.dataTypeID === CHAR_OID) field.dataTypeID = TEXT_OID;
        },
      );
    });
    super(pool, { schema, disposeExternalPool: true });
  }

  // The adapter's own shadow database is made with CREATE DATABASE but reached through the same
  // connection string, whose database name wins, so the migrations it replays would land in
  // DATABASE_URL. Only `migrate diff --from-migrations` needs one here, and prisma/migrate.ts
  // names an empty one (the engine reads it in DATABASE_URL's schema).
  override async connectToShadowDb() {
    const url = process.env.SHADOW_DATABASE_URL;
    if (!url) throw new Error("SHADOW_DATABASE_URL must name an empty database for Prisma's shadow database");
    return new CliAdapterFactory(url).connect();
  }
}

export default {
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  async adapter() {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error("DATABASE_URL must be set for Prisma's CLI (veritrain migrate sets it)");
    return new CliAdapterFactory(url);
  },
} satisfies PrismaConfig;
