import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ChainFixture, startChainFixture } from "../test/support/chain-fixture.ts";
import { readBalance } from "./compute-state.ts";
import { PLANCK_PER_VT } from "./conversion.ts";
import { BridgeError } from "./errors.ts";
import { signerFromSeed } from "./signer.ts";
import { Submitter } from "./submitter.ts";
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

  /** Journals a signed transfer as `submitted` without sending it: a crash right before the send. */
  async function journalUnsent(
    store: MemoryTransactionStore,
    seed: string,
    causeKey: string,
    period: number,
  ) {
    const api = fixture.chain.api;
    const signer = await signerFromSeed(seed);
    const call = transfer(PLANCK_PER_VT);
    const record = await store.record({
      causeKey,
      purpose: "Balances.transfer_keep_alive",
      signer: signer.address,
      callHex: call.method.toHex(),
    });
    const finalizedHash = await api.rpc.chain.getFinalizedHead();
    const current = (await api.rpc.chain.getHeader(finalizedHash)).number.toNumber();
    const era = api.createType("ExtrinsicEra", { current, period });
    const nonce = (await api.rpc.system.accountNextIndex(signer.address)).toNumber();
    const signed = await call.signAsync(signer, { nonce, era, blockHash: finalizedHash });
    return store.markSigned(record.causeKey, {
      nonce,
      signedHex: signed.toHex(),
      extrinsicHash: signed.hash.toHex(),
      validFrom: era.asMortalEra.birth(current),
      validUntil: era.asMortalEra.death(current),
    });
  }

  it("resends a journaled extrinsic that may still be included, as the very same bytes", async () => {
    const store = new MemoryTransactionStore();
    const journaled = await journalUnsent(store, "//Dave", "unsent:open-window", 64);
    const before = await readBalance(fixture.chain.api, eve);
    const dave = new Submitter(fixture.chain.api, await signerFromSeed("//Dave"), store);
    const [outcome] = await dave.reconcile();
    assert.equal(outcome?.status, "fulfilled");
    const record = outcome?.status === "fulfilled" ? outcome.value : null;
    assert.equal(record?.extrinsicHash, journaled.extrinsicHash);
    assert.equal(record?.attempts, 1);
    assert.equal((await readBalance(fixture.chain.api, eve)).free - before.free, PLANCK_PER_VT);
  });

  it("signs anew only once the journaled form's window has closed", async () => {
    const store = new MemoryTransactionStore();
    const journaled = await journalUnsent(store, "//Dave", "unsent:closed-window", 4);
    const ferdie = await submitterFor("//Ferdie");
    const head = async () => (await fixture.chain.api.rpc.chain.getHeader()).number.toNumber();
    let step = 0;
    while ((await head()) < journaled.validUntil!) {
      step += 1;
      await ferdie.submit(
        { causeKey: `advance:${step}`, purpose: "System.remark" },
        fixture.chain.api.tx.system!.remark!("0x00"),
      );
    }
    const before = await readBalance(fixture.chain.api, eve);
    const dave = new Submitter(fixture.chain.api, await signerFromSeed("//Dave"), store, {
      mortalityBlocks: 4,
    });
    const [outcome] = await dave.reconcile();
    const record = outcome?.status === "fulfilled" ? outcome.value : null;
    assert.equal(record?.status, "succeeded");
    assert.notEqual(record?.extrinsicHash, journaled.extrinsicHash);
    assert.equal(record?.nonce, journaled.nonce, "the unused nonce is used by the new form");
    assert.equal(record?.attempts, 2);
    assert.equal((await readBalance(fixture.chain.api, eve)).free - before.free, PLANCK_PER_VT);
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
