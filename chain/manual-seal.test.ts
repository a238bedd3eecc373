// Manual seal: the chain moves only when engine_createBlock asks, as a Substrate node started
// with --sealing manual, so a test can hold an extrinsic in the pool for as long as it needs.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type ApiPromise, Keyring } from "@polkadot/api";
import { type DevnetWithApi, startDevnetWithApi } from "../test/support/devnet-api.ts";
import { DevnetOptionsError, startDevnet } from "./index.ts";

const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });

describe("the dev chain with manual seal", () => {
  let fixture: DevnetWithApi;
  let api: ApiPromise;

  before(async () => {
    fixture = await startDevnetWithApi({ manualSeal: true });
    api = fixture.api;
  });

  after(() => fixture.stop());

  const head = async () => (await api.rpc.chain.getHeader()).number.toNumber();
  const finalized = async () =>
    (await api.rpc.chain.getHeader(await api.rpc.chain.getFinalizedHead())).number.toNumber();

  it("keeps a submitted extrinsic in the pool until a block is asked for, then includes it", async () => {
    const before = await head();
    const hash = await api.tx.balances!.transferKeepAlive!(
      keyring.addFromUri("//Bob").address,
      1_000_000_000_000n,
    ).signAndSend(keyring.addFromUri("//Alice"));
    // Nothing would seal it on its own: well past any instant-seal delay it is still pending.
    await sleep(300);
    assert.equal(await head(), before);
    assert.deepEqual(
      (await api.rpc.author.pendingExtrinsics()).map((extrinsic) => extrinsic.hash.toHex()),
      [hash.toHex()],
    );

    const created = await api.rpc.engine!.createBlock!(false, true);
    assert.equal(await head(), before + 1);
    assert.equal((await api.rpc.chain.getBlockHash(before + 1)).toHex(), created.blockHash.toHex());
    assert.equal(await finalized(), before + 1, "finalize: true finalizes the block at once");
    assert.equal((await api.rpc.author.pendingExtrinsics()).length, 0);
    const block = await api.rpc.chain.getBlock(created.blockHash);
    assert.ok(block.block.extrinsics.some((extrinsic) => extrinsic.hash.eq(hash)));
  });

  it("seals an empty block only when createEmpty is true", async () => {
    const before = await head();
    await assert.rejects(api.rpc.engine!.createBlock!(false, false), /12000: Transaction pool is empty/);
    assert.equal(await head(), before);
    await api.rpc.engine!.createBlock!(true, false);
    assert.equal(await head(), before + 1);
  });

  it("builds only on the best block", async () => {
    const genesis = await api.rpc.chain.getBlockHash(0);
    await assert.rejects(api.rpc.engine!.createBlock!(true, true, genesis), /13000: .*not the best block/);
  });

  it("is offered only by a manual-seal chain: elsewhere no RPC client may move block deadlines", async () => {
    assert.ok((await api.rpc.rpc.methods()).methods.some((m) => m.eq("engine_createBlock")));
    const instant = await startDevnet({ port: 0 });
    try {
      const call = async (method: string, params: unknown[]) => {
        const response = await fetch(instant.httpUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
        });
        return (await response.json()) as { result?: { methods: string[] }; error?: { code: number } };
      };
      for (const method of ["engine_createBlock", "engine_finalizeBlock"]) {
        assert.equal((await call(method, [true, true])).error?.code, -32601, method);
      }
      const listed = (await call("rpc_methods", [])).result?.methods ?? [];
      assert.ok(listed.includes("chain_getHeader"));
      assert.equal(listed.filter((m) => m.startsWith("engine_")).length, 0);
    } finally {
      await instant.stop();
    }
  });

  it("refuses manual seal together with a block time", async () => {
    await assert.rejects(startDevnet({ port: 0, manualSeal: true, blockTimeMs: 100 }), DevnetOptionsError);
  });
});
