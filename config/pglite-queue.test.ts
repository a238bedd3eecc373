// The embedded Postgres under the load a stack puts on it: many pooled connections, some in
// transactions, others sending parameterized statements with different parameter counts. Each
// client's messages must reach PGlite's one session together, and a transaction alone.
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { startPglite } from "./embedded-services.ts";

// The server's own queue deadlocks here (a transaction's messages wait behind another client's);
// the timeout turns that into a failure.
test("concurrent clients of the embedded Postgres do not see each other's statements or transactions", {
  timeout: 60_000,
}, async () => {
  const { url, stop } = await startPglite(undefined);
  const pool = new pg.Pool({ connectionString: url, max: 12 });
  try {
    await pool.query("CREATE TABLE counters (id int PRIMARY KEY, total int NOT NULL)");
    const client = async (n: number) => {
      for (let i = 0; i < 40; i++) {
        if (n % 3 === 0) {
          const connection = await pool.connect();
          try {
            await connection.query("BEGIN");
            await connection.query(
              "INSERT INTO counters (id, total) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET total = counters.total + $2",
              [i % 5, 1],
            );
            await connection.query("SELECT total FROM counters WHERE id = $1 FOR UPDATE", [i % 5]);
            await connection.query("COMMIT");
          } finally {
            connection.release();
          }
        } else if (n % 3 === 1) {
          assert.equal((await pool.query("SELECT $1::int + $2::int AS x", [i, n])).rows[0].x, i + n);
        } else {
          assert.equal(
            (await pool.query("SELECT $1::int * $2::int - $3::int AS x", [i, n, 1])).rows[0].x,
            i * n - 1,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: 12 }, (_, n) => client(n)));
    const { rows } = await pool.query("SELECT sum(total)::int AS sum FROM counters");
    assert.equal(rows[0].sum, 4 * 40, "every transaction committed exactly its own increment");
  } finally {
    await pool.end();
    await stop();
  }
});
