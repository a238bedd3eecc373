import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import { newId } from "../ids.ts";
import { InsufficientFundsError, Ledger, LedgerError } from "./ledger.ts";

let t: TestApp;
let ledger: Ledger;
before(async () => {
  t = await createTestApp();
  ledger = new Ledger(t.database.db, t.pool);
});
after(() => t.close());

async function newOrganization(): Promise<string> {
  const org = await t.database.db.organization.create({ data: { id: newId("org"), name: "ledger test" } });
  return org.id;
}

/** Every transaction balances, and each organization's balance row equals the sum of its lines. */
async function assertConsistent(organizationId: string) {
  const unbalanced = await t.database.db.$queryRaw<unknown[]>`
    SELECT transaction_id FROM ledger_lines GROUP BY transaction_id HAVING SUM(amount_cents) <> 0`;
  assert.deepEqual(unbalanced, []);
  const sums = await t.database.db.ledgerLine.groupBy({
    by: ["account"],
    where: { organizationId },
    _sum: { amountCents: true },
  });
  const sum = (account: string) => Number(sums.find((s) => s.account === account)?._sum.amountCents ?? 0n);
  const balance = await ledger.balance(organizationId);
  assert.deepEqual(balance, { available_cents: sum("available"), reserved_cents: sum("reserved") });
  return balance;
}

test("top-up, reservation, charge and release move money in balanced transactions", async () => {
  const org = await newOrganization();
  await ledger.topUp(org, 10_000, "test:topup:1");
  await ledger.reserve(org, 3_000, "job:a:reserve");
  await ledger.reserve(org, 2_000, "job:b:reserve");
  assert.deepEqual(await assertConsistent(org), { available_cents: 5_000, reserved_cents: 5_000 });
  await ledger.charge(org, 3_000, 1_200, "job:a:charge");
  await ledger.release(org, 2_000, "job:b:release");
  assert.deepEqual(await assertConsistent(org), { available_cents: 8_800, reserved_cents: 0 });
  await ledger.takeBack(org, 500, "refund", "test:refund:1");
  assert.deepEqual(await assertConsistent(org), { available_cents: 8_300, reserved_cents: 0 });
  const revenue = await t.database.db.ledgerLine.aggregate({
    where: { account: "revenue", transaction: { organizationId: org } },
    _sum: { amountCents: true },
  });
  assert.equal(revenue._sum.amountCents, 1_200n);
});

test("a cause moves money once, however often it is repeated", async () => {
  const org = await newOrganization();
  const first = await ledger.topUp(org, 700, "evt:1");
  const again = await ledger.topUp(org, 700, "evt:1");
  assert.equal(first.applied, true);
  assert.deepEqual(again, { transactionId: first.transactionId, applied: false });
  const concurrent = await Promise.all(
    Array.from({ length: 6 }, () => ledger.reserve(org, 100, "job:x:reserve")),
  );
  assert.equal(concurrent.filter((p) => p.applied).length, 1);
  assert.deepEqual(await assertConsistent(org), { available_cents: 600, reserved_cents: 100 });
  await assert.rejects(
    ledger.release(org, 100, "evt:1"),
    (e) => e instanceof LedgerError && e.code === "cause_conflict",
  );
});

test("concurrent reservations never drive available below zero", async () => {
  const org = await newOrganization();
  await ledger.topUp(org, 1_000, "seed");
  const attempts = await Promise.allSettled(
    Array.from({ length: 40 }, (_, i) => ledger.reserve(org, 30, `job:${i}:reserve`)),
  );
  const granted = attempts.filter((a) => a.status === "fulfilled").length;
  assert.equal(granted, 33);
  for (const attempt of attempts) {
    if (attempt.status === "rejected") {
      assert.ok(attempt.reason instanceof InsufficientFundsError);
      assert.equal(attempt.reason.neededCents, 30n);
    }
  }
  assert.deepEqual(await assertConsistent(org), { available_cents: 10, reserved_cents: 990 });
  assert.equal(await t.database.db.ledgerTransaction.count({ where: { organizationId: org } }), 34);
});

test("a refused reservation writes nothing", async () => {
  const org = await newOrganization();
  await ledger.topUp(org, 50, "small");
  await assert.rejects(
    ledger.reserve(org, 51, "job:big:reserve"),
    /needs 51 cents of credits but 50 are available/,
  );
  assert.equal(await t.database.db.ledgerTransaction.count({ where: { causeKey: "job:big:reserve" } }), 0);
  assert.deepEqual(await assertConsistent(org), { available_cents: 50, reserved_cents: 0 });
});

test("misuse is refused with a typed error and moves nothing", async () => {
  const org = await newOrganization();
  await ledger.topUp(org, 100, "seed:misuse");
  await ledger.reserve(org, 60, "job:m:reserve");
  const cases: Array<[() => Promise<unknown>, string]> = [
    [() => ledger.reserve(org, 0, "c1"), "invalid_amount"],
    [() => ledger.reserve(org, 1.5, "c2"), "invalid_amount"],
    [() => ledger.charge(org, 60, 61, "c3"), "invalid_amount"],
    [() => ledger.release(org, 61, "c4"), "exceeds_reserved"],
    [() => ledger.charge(org, 70, 10, "c5"), "exceeds_reserved"],
  ];
  for (const [call, code] of cases) {
    await assert.rejects(call, (e) => e instanceof LedgerError && e.code === code);
  }
  assert.deepEqual(await assertConsistent(org), { available_cents: 40, reserved_cents: 60 });
});

test("a movement inside the caller's transaction rolls back with it", async () => {
  const org = await newOrganization();
  await ledger.topUp(org, 1_000, "seed:tx");
  await assert.rejects(
    t.database.db.$transaction(async (tx) => {
      await ledger.reserve(org, 400, "job:rolled-back:reserve", tx);
      throw new Error("the caller failed after reserving");
    }),
    /the caller failed/,
  );
  assert.deepEqual(await assertConsistent(org), { available_cents: 1_000, reserved_cents: 0 });
  await t.database.db.$transaction((tx) => ledger.reserve(org, 400, "job:kept:reserve", tx));
  assert.deepEqual(await assertConsistent(org), { available_cents: 600, reserved_cents: 400 });
});

test("transactions list newest first with the organization's side of each movement", async () => {
  const org = await newOrganization();
  await ledger.topUp(org, 900, "list:1");
  await ledger.reserve(org, 300, "list:2");
  await ledger.charge(org, 300, 100, "list:3");
  const page = await ledger.transactions(org, 2);
  assert.equal(page.has_more, true);
  assert.deepEqual(
    page.data.map((d) => [d.type, d.available_change_cents, d.reserved_change_cents]),
    [
      ["charge", 200, -300],
      ["reservation", -300, 300],
    ],
  );
  const rest = await ledger.transactions(org, 2, page.data[1]!.id);
  assert.deepEqual(
    rest.data.map((d) => [d.type, d.available_change_cents]),
    [["top_up", 900]],
  );
  assert.equal(rest.has_more, false);
});
