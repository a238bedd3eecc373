// `npm run migrate:new -- <name>`: writes prisma/migrations/<UTC timestamp>_<name>/migration.sql
// with the SQL that brings a database holding the committed migrations up to prisma/schema.prisma.
import { mkdirSync, writeFileSync } from "node:fs";
import { unmigratedChanges } from "../prisma/migrate.ts";

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

const [name, ...rest] = process.argv.slice(2);
if (!name || rest.length > 0 || !/^[a-z0-9_]+$/.test(name)) {
  fail("usage: npm run migrate:new -- <name>   (lower case, digits and _, e.g. add_job_priority)");
}
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  fail(
    "DATABASE_URL must name a PostgreSQL 17 or older server: Prisma replays the committed migrations " +
      "in a scratch schema there (dropped afterwards; nothing else is touched) to compare them with " +
      "schema.prisma. The embedded PGlite cannot stand in: it is PostgreSQL 18, which Prisma's schema " +
      "engine cannot describe.",
  );
}
const sql = await unmigratedChanges(databaseUrl);
if (sql === undefined) fail("Nothing to migrate: prisma/schema.prisma matches the committed migrations.");

const folder = `prisma/migrations/${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}_${name}`;
const dir = new URL(`../${folder}/`, import.meta.url);
mkdirSync(dir);
writeFileSync(new URL("migration.sql", dir), sql);
console.log(`Wrote ${folder}/migration.sql; review it and commit it with schema.prisma:\n\n${sql}`);
