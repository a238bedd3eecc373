import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { readBalance } from "./compute-state.ts";
import { PLANCK_PER_VT } from "./conversion.ts";
import { BridgeError } from "./errors.ts";
import { signerFromSeed } from "./signer.ts";
import { Submitter } from "./submitter.ts";
import { type ChainFixture, startChainFixture } from "./test-support.ts";
import { MemoryTransactionStore } from "./transaction-store.ts";

describe("Submitter against the dev chain", () => {
  let fixture: ChainFixture;
  let eve: string;

  before(async () => {
    fixture = await startChainFixture();
    eve = (await signerFromSeed("//Eve")).address;
  });

  after(async () => {
    await fixture.stop();
  });

  const transfer = (amount: bigint) => fixture.chain.api.tx.balances!.transferKeepAlive!(eve, amount);
  const submitterFor = async (seed: string) =>
    new Submitter(fixture.chain.api, await signerFromSeed(seed), new MemoryTransactionStore());

  it("hands out consecutive nonces to parallel submissions, each included once", async () => {
    const dave = await submitterFor("//Dave");
    const before = await readBalance(fixture.chain.api, eve);
    const records = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        dave.submit(
          { causeKey: `parallel:${i}`, purpose: "Balances.transfer_keep_alive" },
          transfer(PLANCK_PER_VT),
        ),
      ),
    );
    assert.deepEqual(
      records.map((record) => record.nonce).sort((a, b) => a! - b!),
      Array.from({ length: 12 }, (_, i) => i),
    );
    assert.ok(records.every((record) => record.status === "succeeded" && record.attempts === 1));
    const after = await readBalance(fixture.chain.api, eve);
    assert.equal(after.free - before.free, 12n * PLANCK_PER_VT);
  });

  it("resyncs when another signer of the same account moved the nonce on", async () => {
    const first = await submitterFor("//Ferdie");
    await first.submit(
      { causeKey: "resync:0", purpose: "Balances.transfer_keep_alive" },
      transfer(1n * PLANCK_PER_VT),
    );
    const other = await submitterFor("//Ferdie");
    await other.submit(
      { causeKey: "resync:other", purpose: "Balances.transfer_keep_alive" },
      transfer(PLANCK_PER_VT),
    );
    const record = await first.submit(
      { causeKey: "resync:1", purpose: "Balances.transfer_keep_alive" },
      transfer(PLANCK_PER_VT),
    );
    assert.equal(record.status, "succeeded");
    assert.equal(record.nonce, 2);
    assert.equal(record.attempts, 2, "signed once with the stale nonce, once after the resync");
  });

  it("submits one cause once, however often and however concurrently it is asked", async () => {
    const dave = await submitterFor("//Dave");
    const cause = { causeKey: "once", purpose: "Balances.transfer_keep_alive" };
    const before = await readBalance(fixture.chain.api, eve);
    const [a, b] = await Promise.all([
      dave.submit(cause, transfer(PLANCK_PER_VT)),
      dave.submit(cause, transfer(PLANCK_PER_VT)),
    ]);
    const c = await dave.submit(cause, transfer(PLANCK_PER_VT));
    assert.equal(a.extrinsicHash, b.extrinsicHash);
    assert.equal(a.extrinsicHash, c.extrinsicHash);
    assert.equal((await readBalance(fixture.chain.api, eve)).free - before.free, PLANCK_PER_VT);
    await assert.rejects(
      dave.submit(cause, transfer(2n * PLANCK_PER_VT)),
      (error: unknown) => error instanceof BridgeError && error.code === "CAUSE_CONFLICT",
    );
  });

  it("surfaces a failed call's module error, and the same cause never runs again", async () => {
    const dave = await submitterFor("//Dave");
    const finalize = fixture.chain.api.tx.compute!.finalize!(424_242);
    const isUnknownTask = (error: unknown) =>
      error instanceof BridgeError &&
      error.code === "DISPATCH_FAILED" &&
      error.module?.pallet === "Compute" &&
      error.module.name === "UnknownTask";
    await assert.rejects(
      dave.submit({ causeKey: "fails", purpose: "Compute.finalize" }, finalize),
      isUnknownTask,
    );
    const nonce = (await fixture.chain.api.rpc.system.accountNextIndex(dave.address)).toNumber();
    await assert.rejects(
      dave.submit({ causeKey: "fails", purpose: "Compute.finalize" }, finalize),
      isUnknownTask,
    );
    assert.equal((await fixture.chain.api.rpc.system.accountNextIndex(dave.address)).toNumber(), nonce);
  });

  it("reports a transaction the node refuses for good as TRANSACTION_INVALID", async () => {
    const pauper = await submitterFor("//Nobody");
    await assert.rejects(
      pauper.submit({ causeKey: "no-fees", purpose: "Balances.transfer_keep_alive" }, transfer(1n)),
      (error: unknown) =>
        error instanceof BridgeError &&
        error.code === "TRANSACTION_INVALID" &&
        /pay some fees/.test(error.message),
    );
  });
});
