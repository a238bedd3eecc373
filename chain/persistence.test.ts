// The dev chain journals its blocks in --data-dir: a restart resumes at the same head and state,
// a torn last record (a crash mid-write) is dropped, and --block-time seals on an interval.
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import { startDevnet } from "./index.ts";

const dataDir = mkdtempSync(join(tmpdir(), "veritrain-devnet-"));
const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
const alice = keyring.addFromUri("//Alice");
const ferdie = keyring.addFromUri("//Ferdie");

async function connect(wsUrl: string): Promise<ApiPromise> {
  return ApiPromise.create({ provider: new WsProvider(wsUrl), noInitWarn: true });
}

async function head(api: ApiPromise): Promise<{ hash: string; number: number }> {
  const header = await api.rpc.chain.getHeader();
  return { hash: header.hash.toHex(), number: header.number.toNumber() };
}

async function freeOf(api: ApiPromise, address: string): Promise<bigint> {
  const info = (await api.query.system!.account!(address)) as unknown as {
    data: { free: { toBigInt(): bigint } };
  };
  return info.data.free.toBigInt();
}

let journaledHead = { hash: "", number: -1 };

after(() => rmSync(dataDir, { recursive: true, force: true }));

describe("devnet persistence", () => {
  it("restarts twice in a row at the same head, state and genesis", async () => {
    const first = await startDevnet({ port: 0, dataDir });
    const api = await connect(first.wsUrl);
    await new Promise<void>((resolve, reject) => {
      api.tx.balances!.transferKeepAlive!(ferdie.address, 7_000_000_000_000n)
        .signAndSend(alice, (result) => {
          if (result.status.isInBlock || result.status.isFinalized) resolve();
        })
        .catch(reject);
    });
    const before = { head: await head(api), ferdie: await freeOf(api, ferdie.address) };
    journaledHead = before.head;
    await api.disconnect();
    await first.stop();

    for (let restart = 0; restart < 2; restart++) {
      const devnet = await startDevnet({ port: 0, dataDir });
      const again = await connect(devnet.wsUrl);
      assert.equal(devnet.genesisHash, first.genesisHash);
      assert.deepEqual(await head(again), before.head);
      assert.equal(await freeOf(again, ferdie.address), before.ferdie);
      assert.equal((await again.rpc.system.accountNextIndex(alice.address)).toNumber(), 1);
      await again.disconnect();
      await devnet.stop();
    }
  });

  it("drops a torn last journal record", async () => {
    appendFileSync(join(dataDir, "chain.jsonl"), '{"number":99,"hash":"0x');
    const devnet = await startDevnet({ port: 0, dataDir });
    const api = await connect(devnet.wsUrl);
    assert.deepEqual(await head(api), journaledHead);
    await api.disconnect();
    await devnet.stop();
  });

  it("seals empty blocks on an interval with --block-time", async () => {
    const devnet = await startDevnet({ port: 0, blockTimeMs: 50 });
    const api = await connect(devnet.wsUrl);
    const start = (await head(api)).number;
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.ok((await head(api)).number >= start + 3);
    await api.disconnect();
    await devnet.stop();
  });
});
