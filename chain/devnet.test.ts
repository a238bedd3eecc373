// The dev chain against the unmodified @polkadot/api over a real WebSocket.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ApiPromise, Keyring } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { EventRecord } from "@polkadot/types/interfaces";
import type { ISubmittableResult } from "@polkadot/types/types";
import { u8aToHex } from "@polkadot/util";
import { type DevnetWithApi, startDevnetWithApi } from "../test/support/devnet-api.ts";
import type { Devnet } from "./index.ts";

let devnet: Devnet;
let api: ApiPromise;
const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
const alice = keyring.addFromUri("//Alice");
const bob = keyring.addFromUri("//Bob");
const charlie = keyring.addFromUri("//Charlie");
const dave = keyring.addFromUri("//Dave");
const eve = keyring.addFromUri("//Eve");
const pauper = keyring.addFromUri("//NobodyFundedThis");
const VT = 1_000_000_000_000n;

type Account = { free: bigint; reserved: bigint; nonce: number };

/** A pallet's section of the decorated API; the chain's metadata guarantees it is there. */
function section<T>(sections: Record<string, T | undefined>, name: string): T {
  const found = sections[name];
  assert.ok(found, `the chain's metadata has no ${name}`);
  return found;
}

const tx = (pallet: string) => section(api.tx, pallet);
const query = (pallet: string) => section(api.query, pallet);

async function account(address: string): Promise<Account> {
  const info = (await section(query("system"), "account")(address)) as unknown as {
    nonce: { toNumber(): number };
    data: { free: { toBigInt(): bigint }; reserved: { toBigInt(): bigint } };
  };
  return {
    free: info.data.free.toBigInt(),
    reserved: info.data.reserved.toBigInt(),
    nonce: info.nonce.toNumber(),
  };
}

async function totalIssuance(): Promise<bigint> {
  return (
    (await section(query("balances"), "totalIssuance")()) as unknown as { toBigInt(): bigint }
  ).toBigInt();
}

/** Signs, submits and waits for finality; returns the extrinsic's events and the fee it paid. */
function send(extrinsic: SubmittableExtrinsic<"promise">, signer: KeyringPair) {
  return new Promise<{ events: EventRecord[]; fee: bigint; result: ISubmittableResult }>(
    (resolve, reject) => {
      extrinsic
        .signAndSend(signer, (result) => {
          if (result.status.isFinalized) {
            const paid = result.events.find(({ event }) => event.section === "transactionPayment");
            const fee =
              paid === undefined ? 0n : (paid.event.data[1] as unknown as { toBigInt(): bigint }).toBigInt();
            resolve({ events: result.events, fee, result });
          }
          if (result.isError) reject(new Error(`transaction ${result.status.type}`));
        })
        .catch(reject);
    },
  );
}

function names(events: EventRecord[]): string[] {
  return events.map(({ event }) => `${event.section}.${event.method}`);
}

let fixture: DevnetWithApi | undefined;

before(async () => {
  fixture = await startDevnetWithApi();
  ({ devnet, api } = fixture);
});

after(() => fixture?.stop());

describe("devnet with @polkadot/api", () => {
  it("connects without custom types and serves the chain's identity", async () => {
    assert.equal(api.genesisHash.toHex(), devnet.genesisHash);
    assert.equal(api.runtimeVersion.specName.toString(), "veritrain");
    const properties = await api.rpc.system.properties();
    assert.equal(properties.ss58Format.unwrap().toNumber(), 42);
    assert.deepEqual(properties.tokenSymbol.unwrap().toJSON(), ["VT"]);
    assert.deepEqual(properties.tokenDecimals.unwrap().toJSON(), [12]);
    for (const pallet of ["system", "timestamp", "balances", "sudo", "utility", "compute"]) {
      assert.ok(api.tx[pallet] ?? api.query[pallet], `pallet ${pallet} is decorated`);
    }
    assert.equal((await account(alice.address)).free > 0n, true);
  });

  it("transfers with events and fees exact to the planck", async () => {
    const [aliceBefore, bobBefore, issuanceBefore] = await Promise.all([
      account(alice.address),
      account(bob.address),
      totalIssuance(),
    ]);
    const amount = 12_345_678_901n;
    const transfer = tx("balances").transferKeepAlive!(bob.address, amount);
    const quoted = (await transfer.paymentInfo(alice)).partialFee.toBigInt();
    const { events, fee } = await send(transfer, alice);
    assert.deepEqual(names(events), [
      "balances.Withdraw",
      "balances.Transfer",
      "transactionPayment.TransactionFeePaid",
      "system.ExtrinsicSuccess",
    ]);
    assert.equal(fee, quoted);
    const [aliceAfter, bobAfter, issuanceAfter] = await Promise.all([
      account(alice.address),
      account(bob.address),
      totalIssuance(),
    ]);
    assert.equal(aliceAfter.free, aliceBefore.free - amount - fee);
    assert.equal(aliceAfter.nonce, aliceBefore.nonce + 1);
    assert.equal(bobAfter.free, bobBefore.free + amount);
    assert.equal(issuanceAfter, issuanceBefore - fee);
  });

  it("reports Ready, InBlock and Finalized for a watched extrinsic", async () => {
    const signed = await tx("system").remarkWithEvent!("0x01").signAsync(alice);
    const statuses: string[] = [];
    await new Promise<void>((resolve, reject) => {
      api.rpc.author
        .submitAndWatchExtrinsic(signed, (status) => {
          statuses.push(status.type);
          if (status.isFinalized) resolve();
        })
        .catch(reject);
    });
    assert.deepEqual(statuses, ["Ready", "InBlock", "Finalized"]);
  });

  it("rejects a bad signature, stale and future nonces and an account that cannot pay (1010)", async () => {
    const remark = () => tx("system").remark!("0x02");
    await send(remark(), alice);
    const nonce = (await api.rpc.system.accountNextIndex(alice.address)).toNumber();
    const tampered = (await remark().signAsync(alice, { nonce })).toU8a();
    tampered[tampered.length - 10] = tampered[tampered.length - 10]! ^ 0xff;
    await assert.rejects(
      api.rpc.author.submitExtrinsic(u8aToHex(tampered)),
      /1010: Invalid Transaction: Transaction has a bad signature/,
    );
    const badProof = (await remark().signAsync(alice, { nonce })).toU8a();
    badProof[10] = badProof[10]! ^ 0xff;
    await assert.rejects(
      api.rpc.author.submitExtrinsic(u8aToHex(badProof)),
      /1010: Invalid Transaction: Transaction has a bad signature/,
    );
    await assert.rejects(
      api.rpc.author.submitExtrinsic(await remark().signAsync(alice, { nonce: nonce - 1 })),
      /1010: Invalid Transaction: Transaction is outdated/,
    );
    await assert.rejects(
      api.rpc.author.submitExtrinsic(await remark().signAsync(alice, { nonce: nonce + 5 })),
      /1010: Invalid Transaction: Transaction will be valid in the future/,
    );
    await assert.rejects(
      api.rpc.author.submitExtrinsic(await remark().signAsync(pauper)),
      /1010: Invalid Transaction: Inability to pay some fees/,
    );
    const response = await fetch(devnet.httpUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "author_submitExtrinsic", params: ["0x0102"] }),
    });
    const answer = (await response.json()) as { error: { code: number; message: string } };
    assert.equal(answer.error.code, 1001);
    assert.match(answer.error.message, /^Extrinsic has invalid format/);
  });

  it("accepts ed25519 signatures", async () => {
    const edwards = new Keyring({ type: "ed25519", ss58Format: 42 }).addFromUri("//Edwards");
    await send(tx("balances").transferKeepAlive!(edwards.address, 10n * VT), alice);
    const { events } = await send(tx("system").remarkWithEvent!("0x0ed2"), edwards);
    assert.ok(names(events).includes("system.Remarked"));
    assert.equal((await account(edwards.address)).nonce, 1);
  });

  it("charges the fee and decodes the module error of a failing call", async () => {
    const before = await account(charlie.address);
    const { events, fee, result } = await send(
      tx("balances").transferAllowDeath!(bob.address, before.free * 2n),
      charlie,
    );
    assert.ok(result.dispatchError?.isModule);
    const error = api.registry.findMetaError(result.dispatchError.asModule);
    assert.equal(`${error.section}.${error.name}`, "balances.InsufficientBalance");
    assert.equal(names(events).at(-1), "system.ExtrinsicFailed");
    const after = await account(charlie.address);
    assert.equal(after.free, before.free - fee);
    assert.equal(after.nonce, before.nonce + 1);
  });

  it("applies utility.batchAll all or nothing", async () => {
    const bobBefore = await account(bob.address);
    const failing = tx("utility").batchAll!([
      tx("balances").transferKeepAlive!(bob.address, VT),
      tx("balances").transferKeepAlive!(bob.address, 10_000_000n * VT),
    ]);
    const failed = await send(failing, dave);
    assert.equal(failed.result.dispatchError?.isModule, true);
    assert.equal((await account(bob.address)).free, bobBefore.free);
    assert.ok(!names(failed.events).includes("balances.Transfer"));

    const passing = tx("utility").batchAll!([
      tx("balances").transferKeepAlive!(bob.address, VT),
      tx("balances").transferKeepAlive!(bob.address, 2n * VT),
    ]);
    const passed = await send(passing, dave);
    assert.equal(passed.result.dispatchError, undefined);
    assert.equal((await account(bob.address)).free, bobBefore.free + 3n * VT);
    assert.ok(names(passed.events).includes("utility.BatchCompleted"));
  });

  it("lets the sudo key dispatch root calls and refuses anyone else", async () => {
    const issuanceBefore = await totalIssuance();
    const eveBefore = await account(eve.address);
    const newFree = eveBefore.free + 500n * VT;
    const setBalance = tx("balances").forceSetBalance!(eve.address, newFree);
    const { events, fee } = await send(tx("sudo").sudo!(setBalance), alice);
    const sudid = events.find(({ event }) => event.section === "sudo" && event.method === "Sudid");
    assert.ok(sudid);
    assert.equal((sudid.event.data[0] as unknown as { isOk: boolean }).isOk, true);
    assert.equal((await account(eve.address)).free, newFree);
    assert.equal(await totalIssuance(), issuanceBefore + 500n * VT - fee);

    const refused = await send(tx("sudo").sudo!(setBalance), bob);
    const error = api.registry.findMetaError(refused.result.dispatchError!.asModule);
    assert.equal(`${error.section}.${error.name}`, "sudo.RequireSudo");

    const direct = await send(setBalance, bob);
    assert.equal(direct.result.dispatchError?.isBadOrigin, true);
  });

  it("pushes storage changes and new heads to subscribers", async () => {
    const updates: bigint[] = [];
    const heads: number[] = [];
    const accountQuery = section(query("system"), "account") as unknown as (
      address: string,
      callback: (info: unknown) => void,
    ) => Promise<() => void>;
    const stopAccount = await accountQuery(dave.address, (info: unknown) => {
      updates.push((info as { data: { free: { toBigInt(): bigint } } }).data.free.toBigInt());
    });
    const stopHeads = await api.rpc.chain.subscribeNewHeads((header) => {
      heads.push(header.number.toNumber());
    });
    await send(tx("balances").transferKeepAlive!(dave.address, VT), alice);
    stopAccount();
    stopHeads();
    assert.ok(updates.length >= 2, `account updates: ${updates.length}`);
    assert.equal(updates.at(-1)! - updates[0]!, VT);
    assert.ok(heads.length >= 2 && heads.at(-1)! > heads[0]!, `heads: ${heads.join(",")}`);
  });

  it("pages through storage keys (entries) and keeps issuance equal to the sum of balances", async () => {
    const entries = await section(query("system"), "account").entries();
    assert.ok(entries.length >= 6, `accounts: ${entries.length}`);
    const sum = entries.reduce((total, [, info]) => {
      const data = (
        info as unknown as { data: { free: { toBigInt(): bigint }; reserved: { toBigInt(): bigint } } }
      ).data;
      return total + data.free.toBigInt() + data.reserved.toBigInt();
    }, 0n);
    assert.equal(sum, await totalIssuance());
  });
});
