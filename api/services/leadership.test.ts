// The leader lease against the real Postgres: one leader among contenders, a successor within a
// few periods when the leader's session dies (as when its process is killed), and a deposed
// leader that stops its loops.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { parseDatabaseUrl } from "../../prisma/pool.ts";
import { createTestDatabase, type TestDatabase } from "../../test/support/database.ts";
import { Leadership } from "./leadership.ts";

const PERIOD_MS = 100;
// The lease is a session-scoped lock: it needs sessions of their own, which embedded PGlite (one
// session for every connection) does not have. `npm test` without DATABASE_URL runs on PGlite.
const needsSessions = {
  skip: process.env.VERITRAIN_TEST_PGLITE
    ? "embedded PGlite serves every connection in one session, so a session lock cannot exclude; set DATABASE_URL"
    : false,
};

let database: TestDatabase;
let admin: pg.Client;
before(async () => {
  database = await createTestDatabase();
  admin = new pg.Client({ connectionString: parseDatabaseUrl(database.url).connectionString });
  await admin.connect();
});
after(async () => {
  await admin.end();
  await database.drop();
});

interface Contender {
  leadership: Leadership;
  terms: string[];
}

function contender(databaseUrl = database.url): Contender {
  const terms: string[] = [];
  const leadership = new Leadership({
    databaseUrl,
    periodMs: PERIOD_MS,
    onElected: async () => {
      terms.push("elected");
    },
    onDeposed: async () => {
      terms.push("deposed");
    },
    logError: () => undefined,
  });
  return { leadership, terms };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

test(
  "one of several contenders leads; when its session dies another takes over and it steps down",
  needsSessions,
  async () => {
    const contenders = [contender(), contender(), contender()];
    try {
      await Promise.all(contenders.map((c) => c.leadership.start()));
      await sleep(3 * PERIOD_MS);
      const leaders = contenders.filter((c) => c.leadership.isLeader);
      assert.equal(leaders.length, 1, "exactly one leader");
      const first = leaders[0]!;

      // What a `kill -9` of the leader's process does to its session: Postgres ends it.
      const { rows } = await admin.query<{ ended: boolean }>(
        `WITH lease AS (SELECT hashtextextended('veritrain:leader:' || $1, 0) AS key)
       SELECT pg_terminate_backend(pid) AS ended FROM pg_locks, lease
       WHERE locktype = 'advisory' AND granted AND objsubid = 1
         AND classid = ((key >> 32) & 4294967295)::oid AND objid = (key & 4294967295)::oid`,
        [database.schema],
      );
      assert.deepEqual(rows, [{ ended: true }], "the leader's session held the lease");
      await until(() => !first.leadership.isLeader, "the old leader steps down");
      await until(
        () => contenders.filter((c) => c.leadership.isLeader).length === 1,
        "a successor is elected",
      );
      assert.deepEqual(first.terms.slice(0, 2), ["elected", "deposed"]);
      await sleep(3 * PERIOD_MS);
      assert.equal(contenders.filter((c) => c.leadership.isLeader).length, 1, "still exactly one leader");
    } finally {
      await Promise.all(contenders.map((c) => c.leadership.stop()));
    }
  },
);

test(
  "a leader that stops releases the lease at once, and deployments in other schemas lead on their own",
  needsSessions,
  async () => {
    const other = await createTestDatabase();
    const a = contender();
    const b = contender();
    const elsewhere = contender(other.url);
    try {
      await a.leadership.start();
      await b.leadership.start();
      await elsewhere.leadership.start();
      assert.equal(a.leadership.isLeader, true);
      assert.equal(b.leadership.isLeader, false);
      assert.equal(elsewhere.leadership.isLeader, true, "another schema is another deployment");
      await a.leadership.stop();
      assert.deepEqual(a.terms, ["elected", "deposed"]);
      await until(() => b.leadership.isLeader, "the standby takes over");
    } finally {
      await Promise.all([a, b, elsewhere].map((c) => c.leadership.stop()));
      await other.drop();
    }
  },
);
