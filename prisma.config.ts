import { PrismaPg } from "@prisma/adapter-pg";
import type { PrismaConfig } from "prisma";
import { createPool } from "./prisma/pool.ts";

// The WebAssembly schema engine works offline; it reaches the database through the same
// driver adapter and pool set-up the application uses.
export default {
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  async adapter() {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error("DATABASE_URL must be set for Prisma's CLI (veritrain migrate sets it)");
    const { pool, schema } = createPool(url, 2);
    return new PrismaPg(pool, { schema, disposeExternalPool: true });
  },
} satisfies PrismaConfig;
