// One Prisma client per process, over a pg pool through Prisma's driver adapter (the JS engine,
// which needs no native binary).
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client.ts";
import { createPool } from "./pool.ts";

export type Database = PrismaClient;

export function createDatabase(url: string, poolSize = 10): Database {
  const { pool, schema } = createPool(url, poolSize);
  return new PrismaClient({ adapter: new PrismaPg(pool, { schema, disposeExternalPool: true }) });
}
