// Runs every `*.test.ts` beside the code and in `test/` with Node's own test runner.
// With DATABASE_URL or REDIS_URL unset, the embedded services start here once and every test
// file inherits their addresses, exactly as `veritrain up` would provide them.
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { runWithServices } from "./services.ts";

const root = new URL("..", import.meta.url).pathname;
const searched = [
  "api",
  "sdk",
  "prisma",
  "queue",
  "protocol",
  "chain",
  "chain-bridge",
  "worker-runtime",
  "cli",
  "config",
  "test",
];
const skippedDirs = new Set(["node_modules", "generated", ".veritrain", "fixtures", "dist"]);

function findTests(dir: string, out: string[]): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!skippedDirs.has(name)) findTests(path, out);
    } else if (name.endsWith(".test.ts")) {
      out.push(relative(root, path));
    }
  }
  return out;
}

// test/slow/ holds whole-stack scenarios of several minutes each (one faulty node per fraud mode,
// API instances killed mid-job): `npm run test:slow` runs them, `npm test` does not, so that the
// default suite stays within its time budget on two cores.
const SLOW = "test/slow/";
const filters = process.argv.slice(2);
const files = searched
  .flatMap((dir) => findTests(join(root, dir), []))
  .filter((file) => (filters.length === 0 ? !file.startsWith(SLOW) : filters.some((f) => file.includes(f))))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ") || "(all)"}`);
  process.exit(1);
}

// Without DATABASE_URL every test file starts an in-memory Postgres of its own (see
// test/support/database.ts); the one started for the suite serves anything else.
const code = await runWithServices(["--test", "--test-concurrency=2", "--test-timeout=600000", ...files], {
  dataDir: "test",
  env: { VERITRAIN_TEST: "1" },
});
process.exit(code);
