// The JSON-RPC interface spec's groups, method by method, over a raw WebSocket: what each answers,
// the order of replies and notifications, pinning, the operation and subscription limits, and the
// spec's error codes. (chain/clients.test.ts runs whole scenarios through dedot and polkadot-api.)
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ApiPromise } from "@polkadot/api";
import { Keyring } from "@polkadot/keyring";
import { u8aToHex } from "@polkadot/util";
import { blake2AsHex, xxhashAsHex } from "@polkadot/util-crypto";
import { WebSocket } from "ws";
import { type DevnetWithApi, startDevnetWithApi } from "../../test/support/devnet-api.ts";
import { type Devnet, startDevnet } from "../index.ts";

type Message = {
  id?: number;
  result?: unknown;
  error?: { code: number; message: string };
  method?: string;
  params?: { subscription: string; result: Record<string, unknown> };
};
type Event = Record<string, unknown> & { event: string };

/** A JSON-RPC client that keeps every message it received, in order. */
class RawClient {
  readonly received: Message[] = [];
  readonly #waiting = new Set<() => void>();
  #nextId = 1;

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data) => {
      this.received.push(JSON.parse(data.toString()) as Message);
      for (const check of this.#waiting) check();
    });
  }

  static async connect(url: string): Promise<RawClient> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
    return new RawClient(socket);
  }

  /** The first received message that satisfies `predicate`, waiting for it if need be. */
  waitFor(predicate: (message: Message) => boolean, what: string, timeoutMs = 10_000): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        const found = this.received.find(predicate);
        if (found === undefined) return;
        clearTimeout(timer);
        this.#waiting.delete(check);
        resolve(found);
      };
      this.#waiting.add(check);
      check();
    });
  }

  async call(method: string, params: unknown[] | Record<string, unknown> = []): Promise<Message> {
    const id = this.#nextId++;
    this.socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    return this.waitFor((message) => message.id === id, `the reply to ${method}`);
  }

  async result<T = unknown>(method: string, params: unknown[] | Record<string, unknown> = []): Promise<T> {
    const reply = await this.call(method, params);
    assert.equal(reply.error, undefined, `${method}: ${JSON.stringify(reply.error)}`);
    return reply.result as T;
  }

  async errorCode(method: string, params: unknown[]): Promise<number | undefined> {
    return (await this.call(method, params)).error?.code;
  }

  /** The events of a subscription received so far. */
  events(subscription: string): Event[] {
    return this.received
      .filter((message) => message.params?.subscription === subscription)
      .map((message) => message.params!.result as Event);
  }

  event(
    subscription: string,
    predicate: (event: Event) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Event> {
    return this.waitFor(
      (message) => message.params?.subscription === subscription && predicate(message.params.result as Event),
      what,
      timeoutMs,
    ).then((message) => message.params!.result as Event);
  }

  /** The events of an operation, once there are at least `count`. */
  async operationEvents(subscription: string, operationId: string, count: number): Promise<Event[]> {
    const of = () => this.events(subscription).filter((event) => event.operationId === operationId);
    await this.waitFor(() => of().length >= count, `event ${count} of operation ${operationId}`);
    return of();
  }

  /** The position of the first message that satisfies `predicate` (replies and notifications alike). */
  indexOf(predicate: (message: Message) => boolean): number {
    return this.received.findIndex(predicate);
  }

  close(): void {
    this.socket.close();
  }
}

/** Runs `body` with a fresh connection to the dev chain, closed afterwards. */
async function connected(body: (client: RawClient) => Promise<void>, url = devnet.wsUrl): Promise<void> {
  const client = await RawClient.connect(url);
  try {
    await body(client);
  } finally {
    client.close();
  }
}

const SPEC_METHODS = [
  "chainHead_v1_body",
  "chainHead_v1_call",
  "chainHead_v1_continue",
  "chainHead_v1_follow",
  "chainHead_v1_header",
  "chainHead_v1_stopOperation",
  "chainHead_v1_storage",
  "chainHead_v1_unfollow",
  "chainHead_v1_unpin",
  "chainSpec_v1_chainName",
  "chainSpec_v1_genesisHash",
  "chainSpec_v1_properties",
  "rpc_methods",
  "transactionWatch_v1_submitAndWatch",
  "transactionWatch_v1_unwatch",
  "transaction_v1_broadcast",
  "transaction_v1_stop",
];
const ACCOUNT_PREFIX = xxhashAsHex("System", 128) + xxhashAsHex("Account", 128).slice(2);
const METADATA_API = blake2AsHex("Metadata", 64);

let devnet: Devnet;
let signer: ApiPromise;
const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
const alice = keyring.addFromUri("//Alice");

/** A signed transfer from //Alice with her next nonce, as the hex a client submits. */
async function transfer(amount: bigint): Promise<string> {
  const nonce = (await signer.rpc.system.accountNextIndex(alice.address)).toNumber();
  const extrinsic = signer.tx.balances!.transferKeepAlive!(keyring.addFromUri("//Bob").address, amount);
  return (await extrinsic.signAsync(alice, { nonce })).toHex();
}

/** Follows with the runtime, waits for `initialized`; returns the subscription and the finalized hash. */
async function follow(client: RawClient, withRuntime = true) {
  const subscription = await client.result<string>("chainHead_v1_follow", [withRuntime]);
  const initialized = await client.event(subscription, (e) => e.event === "initialized", "initialized");
  const finalized = (initialized.finalizedBlockHashes as string[]).at(-1)!;
  return { subscription, initialized, finalized };
}

let fixture: DevnetWithApi | undefined;

before(async () => {
  fixture = await startDevnetWithApi();
  ({ devnet, api: signer } = fixture);
});

after(() => fixture?.stop());

describe("JSON-RPC interface spec", () => {
  it("lists the spec's methods in rpc_methods and answers chainSpec_v1", () =>
    connected(async (client) => {
      const { methods } = await client.result<{ methods: string[] }>("rpc_methods");
      assert.deepEqual(
        methods.filter((method) => /_v1_|^rpc_/.test(method)),
        SPEC_METHODS,
      );
      assert.equal(await client.result("chainSpec_v1_chainName"), "Veritrain Development");
      assert.equal(await client.result("chainSpec_v1_genesisHash"), devnet.genesisHash);
      assert.deepEqual(await client.result("chainSpec_v1_properties"), {
        ss58Format: 42,
        tokenDecimals: 12,
        tokenSymbol: "VT",
      });
    }));

  it("follows: initialized with the runtime, then new, best and finalized blocks, all pinned", () =>
    connected(async (client) => {
      const { subscription, initialized, finalized } = await follow(client);
      const runtime = initialized.finalizedBlockRuntime as { type: string; spec: Record<string, unknown> };
      assert.equal(runtime.type, "valid");
      assert.equal(runtime.spec.specName, "veritrain");
      assert.equal((runtime.spec.apis as Record<string, number>)[METADATA_API], 2);
      assert.equal(client.events(subscription)[0]?.event, "initialized");
      await client.event(subscription, (e) => e.event === "bestBlockChanged", "bestBlockChanged");

      await client.result("author_submitExtrinsic", [await transfer(1n)]);
      const block = await client.event(subscription, (e) => e.event === "newBlock", "newBlock");
      assert.equal(block.newRuntime, null);
      await client.event(
        subscription,
        (e) => e.event === "bestBlockChanged" && e.bestBlockHash === block.blockHash,
        "the new best block",
      );
      const done = await client.event(
        subscription,
        (e) =>
          e.event === "finalized" && (e.finalizedBlockHashes as string[]).includes(block.blockHash as string),
        "its finalization",
      );
      assert.deepEqual(done.prunedBlockHashes, []);

      const header = await client.result<string>("chainHead_v1_header", [subscription, block.blockHash]);
      assert.equal(blake2AsHex(header, 256), block.blockHash);
      const named = await client.result<string>("chainHead_v1_header", {
        followSubscription: subscription,
        hash: block.blockHash,
      });
      assert.equal(named, header);

      assert.equal(
        await client.errorCode("chainHead_v1_unpin", [subscription, [finalized, finalized]]),
        -32804,
      );
      assert.equal(
        await client.errorCode("chainHead_v1_unpin", [subscription, `0x${"ab".repeat(32)}`]),
        -32801,
      );
      assert.equal(
        await client.result("chainHead_v1_unpin", [subscription, [finalized, block.blockHash]]),
        null,
      );
      assert.equal(await client.errorCode("chainHead_v1_header", [subscription, block.blockHash]), -32801);
      assert.equal(
        await client.result("chainHead_v1_header", ["no-such-subscription", block.blockHash]),
        null,
      );

      assert.equal(await client.result("chainHead_v1_unfollow", [subscription]), null);
      const count = client.events(subscription).length;
      await client.result("author_submitExtrinsic", [await transfer(2n)]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(client.events(subscription).length, count, "no event after unfollow");
    }));

  it("answers body, call and storage operations after their operationId", () =>
    connected(async (client) => {
      const { subscription, finalized } = await follow(client);
      const started = await client.result<{ result: string; operationId: string }>("chainHead_v1_call", [
        subscription,
        finalized,
        "Metadata_metadata_versions",
        "0x",
      ]);
      assert.equal(started.result, "started");
      const done = await client.event(
        subscription,
        (e) => e.operationId === started.operationId,
        "the call's result",
      );
      assert.deepEqual(done, {
        event: "operationCallDone",
        operationId: started.operationId,
        output: "0x080e0000000f000000",
      });
      const reply = client.indexOf((message) => message.result === started);
      const notification = client.indexOf(
        (message) => message.params?.result.operationId === started.operationId,
      );
      assert.ok(reply >= 0 && reply < notification, "the operationId is sent before its event");

      const missing = await client.result<{ operationId: string }>("chainHead_v1_call", [
        subscription,
        finalized,
        "Nope_nothing",
        "0x",
      ]);
      const failed = await client.event(
        subscription,
        (e) => e.operationId === missing.operationId,
        "an error",
      );
      assert.equal(failed.event, "operationError");
      assert.match(failed.error as string, /Nope_nothing is not found/);

      const body = await client.result<{ operationId: string }>("chainHead_v1_body", [
        subscription,
        finalized,
      ]);
      const extrinsics = await client.event(
        subscription,
        (e) => e.operationId === body.operationId,
        "the body",
      );
      assert.equal(extrinsics.event, "operationBodyDone");
      assert.ok((extrinsics.value as string[]).length >= 1, "the timestamp inherent at least");

      const aliceKey =
        ACCOUNT_PREFIX + blake2AsHex(alice.publicKey, 128).slice(2) + u8aToHex(alice.publicKey, -1, false);
      const storage = await client.result<{ operationId: string; discardedItems: number }>(
        "chainHead_v1_storage",
        [
          subscription,
          finalized,
          [
            { key: aliceKey, type: "value" },
            { key: aliceKey, type: "hash" },
            { key: ACCOUNT_PREFIX, type: "closestDescendantMerkleValue" },
            { key: `${ACCOUNT_PREFIX}00`, type: "value" },
          ],
          null,
        ],
      );
      assert.equal(storage.discardedItems, 0);
      await client.event(
        subscription,
        (e) => e.operationId === storage.operationId && e.event === "operationStorageDone",
        "done",
      );
      const items = client
        .events(subscription)
        .filter((e) => e.operationId === storage.operationId && e.event === "operationStorageItems")
        .flatMap((e) => e.items as Record<string, string>[]);
      assert.equal(items.length, 3, "the missing key gives no item");
      const value = items.find((item) => item.value !== undefined)!;
      assert.equal(items.find((item) => item.hash !== undefined)?.hash, blake2AsHex(value.value!, 256));
      assert.match(
        items.find((item) => item.closestDescendantMerkleValue !== undefined)!.closestDescendantMerkleValue!,
        /^0x[0-9a-f]{64}$/,
      );

      const withoutRuntime = await follow(client, false);
      assert.equal(withoutRuntime.initialized.finalizedBlockRuntime, undefined);
      assert.equal(
        await client.errorCode("chainHead_v1_call", [
          withoutRuntime.subscription,
          withoutRuntime.finalized,
          "Core_version",
          "0x",
        ]),
        -32802,
      );
    }));

  it("pages descendants (continue), limits operations to 16 and stops them", () =>
    connected(async (client) => {
      const { subscription, finalized } = await follow(client);
      const all = await client.result<{ operationId: string }>("chainHead_v1_storage", [
        subscription,
        finalized,
        [{ key: ACCOUNT_PREFIX, type: "descendantsValues" }],
        null,
      ]);
      const keys: string[] = [];
      for (let seen = 1; ; seen++) {
        const event = (await client.operationEvents(subscription, all.operationId, seen))[seen - 1]!;
        if (event.event === "operationStorageDone") break;
        if (event.event === "operationStorageItems") {
          keys.push(...(event.items as { key: string }[]).map((item) => item.key));
          continue;
        }
        assert.equal(event.event, "operationWaitingForContinue");
        assert.equal(await client.result("chainHead_v1_continue", [subscription, all.operationId]), null);
      }
      const accounts = await client.result<string[]>("state_getKeys", [ACCOUNT_PREFIX, finalized]);
      assert.ok(accounts.length > 5, "more accounts than one page holds");
      assert.deepEqual(keys, accounts);

      const waiting = Array.from({ length: 20 }, () => ({ key: ACCOUNT_PREFIX, type: "descendantsHashes" }));
      const held = await client.result<{ operationId: string; discardedItems: number }>(
        "chainHead_v1_storage",
        [subscription, finalized, waiting, null],
      );
      assert.equal(held.discardedItems, 4);
      await client.event(
        subscription,
        (e) => e.operationId === held.operationId && e.event === "operationWaitingForContinue",
        "a page",
      );
      assert.deepEqual(await client.result("chainHead_v1_body", [subscription, finalized]), {
        result: "limitReached",
      });
      const notStarted = await client.result<{ operationId: string }>("chainHead_v1_call", [
        subscription,
        finalized,
        "Core_version",
        "0x",
      ]);
      assert.deepEqual(notStarted, { result: "limitReached" });
      assert.equal(await client.result("chainHead_v1_stopOperation", [subscription, held.operationId]), null);
      const freed = await client.result<{ result: string }>("chainHead_v1_body", [subscription, finalized]);
      assert.equal(freed.result, "started");
      assert.equal(await client.result("chainHead_v1_continue", [subscription, held.operationId]), null);
      const body = freed as unknown as { operationId: string };
      await client.event(subscription, (e) => e.operationId === body.operationId, "the body");
      assert.equal(
        await client.errorCode("chainHead_v1_continue", [subscription, body.operationId]),
        undefined,
        "a finished operation is unknown: continue has no effect",
      );
    }));

  it("accepts 4 follow subscriptions per connection and refuses a fifth with -32800", () =>
    connected(async (client) => {
      for (let i = 0; i < 4; i++) await client.result("chainHead_v1_follow", [false]);
      assert.equal(await client.errorCode("chainHead_v1_follow", [false]), -32800);
      assert.equal(await client.errorCode("chainHead_v1_follow", ["yes"]), -32602);
    }));

  it("stops a subscription that pins more than 512 blocks", async () => {
    const busy = await startDevnet({ port: 0, blockTimeMs: 1 });
    try {
      await connected(async (client) => {
        const subscription = await client.result<string>("chainHead_v1_follow", [false]);
        // 512 blocks at one per millisecond, or as fast as a loaded machine seals them.
        await client.event(subscription, (e) => e.event === "stop", "stop", 180_000);
        const events = client.events(subscription);
        assert.equal(events.at(-1)?.event, "stop");
        const reported = (events[0]!.finalizedBlockHashes as string[]).length;
        const pinned = events.filter((e) => e.event === "newBlock").length + reported;
        assert.equal(pinned, 512);
        assert.equal(await client.result("chainHead_v1_unfollow", [subscription]), null);
      }, busy.wsUrl);
    } finally {
      await busy.stop();
    }
  });

  it("watches a transaction to finalization (transactionWatch_v1) and reports invalid ones", () =>
    connected(async (client) => {
      const extrinsic = await transfer(3n);
      const subscription = await client.result<string>("transactionWatch_v1_submitAndWatch", [extrinsic]);
      const finalized = await client.event(subscription, (e) => e.event === "finalized", "finalized");
      const statuses = client.events(subscription).map((e) => e.event);
      assert.deepEqual(statuses, ["validated", "bestChainBlockIncluded", "finalized"]);
      const { hash, index } = finalized.block as { hash: string; index: number };
      const block = await client.result<{ block: { extrinsics: string[] } }>("chain_getBlock", [hash]);
      assert.equal(block.block.extrinsics[index], extrinsic);
      assert.equal(await client.errorCode("transactionWatch_v1_unwatch", [subscription]), -32602);

      const stale = await client.result<string>("transactionWatch_v1_submitAndWatch", [extrinsic]);
      const invalid = await client.event(stale, (e) => e.event === "invalid", "invalid");
      assert.equal(invalid.error, "Invalid transaction: Transaction is outdated");
      const garbage = await client.result<string>("transactionWatch_v1_submitAndWatch", ["0x0102"]);
      const undecodable = await client.event(garbage, (e) => e.event === "invalid", "invalid");
      assert.match(undecodable.error as string, /invalid format/);
      assert.equal(await client.errorCode("transactionWatch_v1_submitAndWatch", ["not hex"]), -32602);
    }));

  it("broadcasts a transaction (transaction_v1) until it is stopped", () =>
    connected(async (client) => {
      const { subscription } = await follow(client, false);
      const extrinsic = await transfer(4n);
      const operation = await client.result<string>("transaction_v1_broadcast", [extrinsic]);
      assert.equal(typeof operation, "string");
      const included = await client.event(subscription, (e) => e.event === "newBlock", "a new block");
      const block = await client.result<{ block: { extrinsics: string[] } }>("chain_getBlock", [
        included.blockHash,
      ]);
      assert.ok(block.block.extrinsics.includes(extrinsic), "the broadcast transaction is in the new block");
      assert.equal(await client.result("transaction_v1_stop", [operation]), null);
      assert.equal(await client.errorCode("transaction_v1_stop", [operation]), -32602);
      assert.equal(
        typeof (await client.result("transaction_v1_broadcast", { transaction: "0x0102" })),
        "string",
      );
    }));
});
