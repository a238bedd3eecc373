import assert from "node:assert/strict";
import { test } from "node:test";
import { suiteDatabaseUrl } from "../test/support/database.ts";
import { unmigratedChanges } from "./migrate.ts";

test("schema.prisma and the committed migrations describe the same database", {
  skip: process.env.VERITRAIN_TEST_PGLITE
    ? "embedded PGlite is PostgreSQL 18, which Prisma's schema engine cannot describe; set DATABASE_URL"
    : false,
}, async () => {
  const sql = await unmigratedChanges(suiteDatabaseUrl());
  assert.equal(
    sql,
    undefined,
    `prisma/schema.prisma differs from prisma/migrations; add the migration with \`npm run migrate:new -- <name>\`:\n${sql}`,
  );
});
