import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pg from "pg";
import { createEmptySchema } from "../test/support/database.ts";
import { createDatabase } from "./client.ts";
import { migrate, migrationNames, pendingMigrations } from "./migrate.ts";
import { parseDatabaseUrl } from "./pool.ts";

let empty: Awaited<ReturnType<typeof createEmptySchema>>;
before(async () => {
  empty = await createEmptySchema();
});
after(async () => {
  await empty.drop();
});

test("migrate applies every committed migration to an empty database, then has nothing to do", async () => {
  assert.deepEqual(await pendingMigrations(empty.url), migrationNames());
  assert.deepEqual(await migrate(empty.url), migrationNames());
  assert.deepEqual(await pendingMigrations(empty.url), []);
  assert.deepEqual(await migrate(empty.url), []);

  const client = new pg.Client({ connectionString: parseDatabaseUrl(empty.url).connectionString });
  await client.connect();
  const tables = await client.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
    [empty.schema],
  );
  await client.end();
  const names = tables.rows.map((row) => row.table_name);
  for (const table of [
    "organizations",
    "api_keys",
    "ledger_lines",
    "files",
    "training_jobs",
    "chain_transactions",
  ]) {
    assert.ok(names.includes(table), `table ${table} exists after migration (found ${names.join(", ")})`);
  }
});

test("the Prisma client reads and writes the migrated schema", async () => {
  const db = createDatabase(empty.url, 2);
  try {
    await db.organization.create({ data: { id: "org_test", name: "Test" } });
    const found = await db.organization.findUnique({ where: { id: "org_test" } });
    assert.equal(found?.name, "Test");
  } finally {
    await db.$disconnect();
  }
});
