// One scenario, four clients: the dev chain with the client libraries people use with Substrate,
// unmodified. @polkadot/api and dedot's legacy client speak the legacy JSON-RPC methods; dedot's
// other client and polkadot-api speak only the JSON-RPC interface spec (chainHead_v1, chainSpec_v1,
// transaction_v1). Each connects, reads metadata V15, queries storage and a runtime API, follows
// blocks, signs a transfer and a Compute call, watches both to finalization and reads their events.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ApiPromise, WsProvider as PolkadotWsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { Metadata, TypeRegistry } from "@polkadot/types";
import type { Codec, ISubmittableResult } from "@polkadot/types/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { DedotClient, WsProvider as DedotWsProvider } from "dedot";
import type { ISubmittableResult as DedotResult, GenericSubstrateApi } from "dedot/types";
import { createClient, Enum, type PolkadotClient, type TxEvent } from "polkadot-api";
import { getPolkadotSigner } from "polkadot-api/signer";
import { getWsProvider, type WebSocketClass } from "polkadot-api/ws";
import { WebSocket } from "ws";
import { type Devnet, startDevnet } from "./index.ts";

const VT = 1_000_000_000_000n;
const DEV_ENDOWMENT = 1_000_000n * VT;
const WORKER_BOND = 1_000n * VT;
const PROFILE = `0x${"11".repeat(32)}`;
const COMMITMENT = `0x${"22".repeat(32)}`;
/** Compute.register(roles, profile, commitment, bond) as a worker, positionally. */
const REGISTER_ARGS = [
  { worker: true, verifier: false, whistleblower: false },
  PROFILE,
  COMMITMENT,
  WORKER_BOND,
];
const RUNTIME_APIS = [
  "AccountNonceApi",
  "BlockBuilder",
  "Core",
  "Metadata",
  "TaggedTransactionQueue",
  "TransactionPaymentApi",
  "TransactionPaymentCallApi",
];

/** An event as "Pallet.Event" with the numeric fields the scenario checks. */
type ChainEvent = { readonly name: string; readonly amounts: Readonly<Record<string, bigint>> };

/** Where a watched extrinsic ended up, the statuses the client reported on the way, and its events. */
type Finalized = {
  readonly blockNumber: number;
  readonly statuses: readonly string[];
  readonly events: readonly ChainEvent[];
};

/** What the scenario does with a client; each client library implements it its own way. */
interface ScenarioClient {
  /** The metadata version the client decoded its API from. */
  readonly metadataVersion: number;
  /** The runtime APIs its metadata lists. */
  readonly runtimeApis: readonly string[];
  existentialDeposit(): Promise<bigint>;
  free(address: string): Promise<bigint>;
  /** AccountNonceApi_account_nonce, through the client's runtime API call. */
  nonce(address: string): Promise<number>;
  /** Compute.Nodes(address).bonded, or undefined when it is no node. */
  bonded(address: string): Promise<bigint | undefined>;
  /** Follows best blocks; returns the unsubscription. */
  followBlocks(onBlock: (blockNumber: number) => void): Promise<() => void>;
  transferFee(from: KeyringPair, to: string, amount: bigint): Promise<bigint>;
  transfer(from: KeyringPair, to: string, amount: bigint): Promise<Finalized>;
  register(node: KeyringPair): Promise<Finalized>;
  disconnect(): Promise<void>;
}

const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });

/** A pallet, call, query or API of a client's metadata-built API; the chain's metadata guarantees it. */
function member<T>(members: Readonly<Record<string, T | undefined>>, name: string): T {
  const found = members[name];
  assert.ok(found, `the client's API has no ${name}`);
  return found;
}
const upper = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
const camel = (name: string) => name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** The numeric (u128) fields of an event's data, by camelCase name. */
function amounts(data: Record<string, unknown> | undefined): Record<string, bigint> {
  const found: Record<string, bigint> = {};
  for (const [name, value] of Object.entries(data ?? {})) {
    if (typeof value === "bigint") found[camel(name)] = value;
  }
  return found;
}

/** @polkadot/api, which must connect without its "MetadataApi not available" warning. */
async function withPolkadotApi(url: string): Promise<ScenarioClient> {
  const logged: string[] = [];
  const captured = { warn: console.warn, log: console.log, error: console.error };
  const capture = (...args: unknown[]) => logged.push(args.map(String).join(" "));
  Object.assign(console, { warn: capture, log: capture, error: capture });
  let api: ApiPromise;
  try {
    api = await ApiPromise.create({ provider: new PolkadotWsProvider(url) });
  } finally {
    Object.assign(console, captured);
  }
  assert.ok(!logged.some((line) => /MetadataApi|get_metadata|state_call/.test(line)), logged.join("\n"));
  // Against any node that offers the interface spec, @polkadot/api notes that it has no
  // decoration for those methods; nothing else may be logged.
  const specOnly =
    /RPC methods not decorated: ((chainHead|chainSpec|transaction|transactionWatch)_v1_\w+(, |$))+$/;
  assert.deepEqual(
    logged.filter((line) => !specOnly.test(line)),
    [],
  );
  const send = (extrinsic: SubmittableExtrinsic<"promise">, signer: KeyringPair) =>
    new Promise<Finalized>((resolve, reject) => {
      const statuses: string[] = [];
      extrinsic
        .signAndSend(signer, (result: ISubmittableResult) => {
          statuses.push(result.status.type);
          if (result.isError) reject(new Error(`transaction ${result.status.type}`));
          if (!result.status.isFinalized) return;
          api.rpc.chain
            .getHeader(result.status.asFinalized)
            .then((header) =>
              resolve({
                blockNumber: header.number.toNumber(),
                statuses,
                events: result.events.map(({ event }) => ({
                  name: `${upper(event.section)}.${event.method}`,
                  amounts: amounts(
                    Object.fromEntries(
                      event.data.names?.map((name, index) => {
                        const value = event.data[index] as Codec & { toBigInt?: () => bigint };
                        return [name, value.toBigInt?.()];
                      }) ?? [],
                    ),
                  ),
                })),
              }),
            )
            .catch(reject);
        })
        .catch(reject);
    });
  const accountQuery = (address: string) =>
    member(member(api.query, "system"), "account")(address) as Promise<
      Codec & { nonce: Codec; data: { free: { toBigInt(): bigint } } }
    >;
  return {
    metadataVersion: api.runtimeMetadata.version,
    runtimeApis: api.runtimeMetadata.asLatest.apis.map((runtimeApi) => runtimeApi.name.toString()),
    existentialDeposit: async () =>
      (member(api.consts, "balances").existentialDeposit as unknown as { toBigInt(): bigint }).toBigInt(),
    free: async (address) => (await accountQuery(address)).data.free.toBigInt(),
    nonce: async (address) =>
      (
        (await member(member(api.call, "accountNonceApi"), "accountNonce")(address)) as unknown as {
          toNumber(): number;
        }
      ).toNumber(),
    bonded: async (address) => {
      const node = (await member(member(api.query, "compute"), "nodes")(address)) as unknown as {
        isSome: boolean;
        unwrap(): { bonded: { toBigInt(): bigint } };
      };
      return node.isSome ? node.unwrap().bonded.toBigInt() : undefined;
    },
    followBlocks: async (onBlock) =>
      api.rpc.chain.subscribeNewHeads((header) => onBlock(header.number.toNumber())),
    transferFee: async (from, to, amount) =>
      (
        await member(member(api.tx, "balances"), "transferKeepAlive")(to, amount).paymentInfo(from)
      ).partialFee.toBigInt(),
    transfer: (from, to, amount) =>
      send(member(member(api.tx, "balances"), "transferKeepAlive")(to, amount), from),
    register: (node) => send(member(member(api.tx, "compute"), "register")(...REGISTER_ARGS), node),
    disconnect: () => api.disconnect(),
  };
}

async function withDedot(url: string, rpcVersion: "legacy" | "v2"): Promise<ScenarioClient> {
  const client = await DedotClient.create<GenericSubstrateApi>({
    provider: new DedotWsProvider(url),
    rpcVersion,
  });
  assert.equal(client.rpcVersion, rpcVersion);
  const tx = (pallet: string, call: string) => member(member(client.tx, pallet), call);
  const send = async (
    extrinsic: ReturnType<ReturnType<typeof tx>>,
    signer: KeyringPair,
  ): Promise<Finalized> => {
    const statuses: string[] = [];
    const result: DedotResult = await extrinsic
      .signAndSend(signer, ({ status }: DedotResult) => statuses.push(status.type))
      .untilFinalized();
    assert.equal(result.status.type, "Finalized");
    return {
      blockNumber: result.status.type === "Finalized" ? result.status.value.blockNumber : -1,
      statuses,
      events: result.events.map(({ event }) => {
        const palletEvent =
          typeof event.palletEvent === "string" ? { name: event.palletEvent } : event.palletEvent;
        return {
          name: `${event.pallet}.${palletEvent.name}`,
          amounts: amounts(palletEvent.data as Record<string, unknown> | undefined),
        };
      }),
    };
  };
  return {
    metadataVersion: Number(client.metadata.version.replace("V", "")),
    runtimeApis: client.metadata.latest.apis.map((runtimeApi) => runtimeApi.name),
    existentialDeposit: async () => member(client.consts, "balances").existentialDeposit as bigint,
    free: async (address) =>
      ((await member(member(client.query, "system"), "account")(address)) as { data: { free: bigint } }).data
        .free,
    nonce: async (address) =>
      (await member(member(client.call, "accountNonceApi"), "accountNonce")(address)) as number,
    bonded: async (address) =>
      ((await member(member(client.query, "compute"), "nodes")(address)) as { bonded: bigint } | undefined)
        ?.bonded,
    followBlocks: async (onBlock) => client.block.best((block) => onBlock(block.number)),
    transferFee: async (from, to, amount) =>
      (await tx("balances", "transferKeepAlive")(to, amount).paymentInfo(from.address)).partialFee,
    transfer: (from, to, amount) => send(tx("balances", "transferKeepAlive")(to, amount), from),
    register: (node) => send(tx("compute", "register")(...REGISTER_ARGS), node),
    disconnect: () => client.disconnect(),
  };
}

async function withPolkadotApiLibrary(url: string): Promise<ScenarioClient> {
  const client: PolkadotClient = createClient(
    getWsProvider(url, { websocketClass: WebSocket as unknown as WebSocketClass }),
  );
  const api = client.getUnsafeApi();
  const metadata = new Metadata(
    new TypeRegistry(),
    await client.getMetadata((await client.getFinalizedBlock()).hash),
  );
  const signerOf = (pair: KeyringPair) =>
    getPolkadotSigner(pair.publicKey, "Sr25519", (input: Uint8Array) => pair.sign(input));
  const tx = (pallet: string, call: string) => member(member(api.tx, pallet), call);
  const send = (transaction: ReturnType<ReturnType<typeof tx>>, signer: KeyringPair) =>
    new Promise<Finalized>((resolve, reject) => {
      const statuses: string[] = [];
      transaction.signSubmitAndWatch(signerOf(signer)).subscribe({
        next: (event: TxEvent) => {
          statuses.push(event.type);
          if (event.type !== "finalized") return;
          resolve({
            blockNumber: event.block.number,
            statuses,
            events: event.events.map(({ type, value }) => ({
              name: `${type}.${value.type}`,
              amounts: amounts(value.value as Record<string, unknown> | undefined),
            })),
          });
        },
        error: reject,
      });
    });
  return {
    metadataVersion: metadata.version,
    runtimeApis: metadata.asLatest.apis.map((runtimeApi) => runtimeApi.name.toString()),
    existentialDeposit: async () =>
      (await member(member(api.constants, "Balances"), "ExistentialDeposit")()) as bigint,
    free: async (address) =>
      ((await member(member(api.query, "System"), "Account").getValue(address)) as { data: { free: bigint } })
        .data.free,
    nonce: async (address) =>
      (await member(member(api.apis, "AccountNonceApi"), "account_nonce")(address)) as number,
    bonded: async (address) =>
      (
        (await member(member(api.query, "Compute"), "Nodes").getValue(address)) as
          | { bonded: bigint }
          | undefined
      )?.bonded,
    followBlocks: async (onBlock) => {
      const subscription = client.bestBlocks$.subscribe((blocks) => {
        const best = blocks[0];
        if (best !== undefined) onBlock(best.number);
      });
      return () => subscription.unsubscribe();
    },
    transferFee: async (from, to, amount) =>
      (await tx(
        "Balances",
        "transfer_keep_alive",
      )({ dest: Enum("Id", to), value: amount }).getEstimatedFees(from.address)) as bigint,
    transfer: (from, to, amount) =>
      send(tx("Balances", "transfer_keep_alive")({ dest: Enum("Id", to), value: amount }), from),
    register: (node) =>
      send(
        tx(
          "Compute",
          "register",
        )({
          roles: { worker: true, verifier: false, whistleblower: false },
          profile: PROFILE,
          commitment: COMMITMENT,
          bond: WORKER_BOND,
        }),
        node,
      ),
    disconnect: async () => client.destroy(),
  };
}

/** The scenario every client runs, with its own sender (funded at genesis) and a fresh recipient. */
async function scenario(client: ScenarioClient, sender: KeyringPair, recipient: string): Promise<void> {
  assert.equal(client.metadataVersion, 15);
  assert.deepEqual([...client.runtimeApis].sort(), RUNTIME_APIS);
  assert.equal(await client.existentialDeposit(), 1_000_000_000n);
  assert.equal(await client.free(sender.address), DEV_ENDOWMENT);
  assert.equal(await client.free(recipient), 0n);
  assert.equal(await client.nonce(sender.address), 0);

  const seen: number[] = [];
  const stopFollowing = await client.followBlocks((blockNumber) => seen.push(blockNumber));
  const amount = 25n * VT;
  const quoted = await client.transferFee(sender, recipient, amount);
  const transfer = await client.transfer(sender, recipient, amount);
  stopFollowing();
  assert.equal(transfer.statuses.at(-1)?.toLowerCase(), "finalized");
  assert.ok(
    seen.includes(transfer.blockNumber),
    `followed ${seen.join(",")}, included in ${transfer.blockNumber}`,
  );
  const event = (name: string) => transfer.events.find((found) => found.name === name);
  assert.deepEqual(
    transfer.events.map((found) => found.name),
    [
      "Balances.Withdraw",
      "System.NewAccount",
      "Balances.Endowed",
      "Balances.Transfer",
      "TransactionPayment.TransactionFeePaid",
      "System.ExtrinsicSuccess",
    ],
  );
  assert.equal(event("Balances.Transfer")?.amounts.amount, amount);
  assert.equal(event("TransactionPayment.TransactionFeePaid")?.amounts.actualFee, quoted);
  assert.equal(await client.free(recipient), amount);
  assert.equal(await client.free(sender.address), DEV_ENDOWMENT - amount - quoted);
  assert.equal(await client.nonce(sender.address), 1);

  assert.equal(await client.bonded(sender.address), undefined);
  const registered = await client.register(sender);
  assert.equal(registered.statuses.at(-1)?.toLowerCase(), "finalized");
  const names = registered.events.map((event) => event.name);
  assert.ok(names.includes("Compute.NodeRegistered"), names.join(", "));
  assert.equal(names.at(-1), "System.ExtrinsicSuccess");
  assert.equal(
    registered.events.find((event) => event.name === "Compute.NodeRegistered")?.amounts.bond,
    WORKER_BOND,
  );
  assert.equal(await client.bonded(sender.address), WORKER_BOND);
}

let devnet: Devnet;

before(async () => {
  await cryptoWaitReady();
  devnet = await startDevnet({ port: 0 });
});

after(async () => {
  await devnet?.stop();
});

const CLIENTS: ReadonlyArray<{
  readonly title: string;
  readonly connect: (url: string) => Promise<ScenarioClient>;
  readonly sender: string;
}> = [
  {
    title: "@polkadot/api (legacy RPC, metadata through the Metadata API, no warning)",
    connect: withPolkadotApi,
    sender: "//Charlie",
  },
  { title: "dedot's legacy client", connect: (url) => withDedot(url, "legacy"), sender: "//Dave" },
  {
    title: "dedot's JSON-RPC interface spec client",
    connect: (url) => withDedot(url, "v2"),
    sender: "//Eve",
  },
  {
    title: "polkadot-api (JSON-RPC interface spec only)",
    connect: withPolkadotApiLibrary,
    sender: "//Ferdie",
  },
];

describe("the dev chain with Substrate's client libraries", () => {
  for (const [index, { title, connect, sender }] of CLIENTS.entries()) {
    it(title, async () => {
      const client = await connect(devnet.wsUrl);
      try {
        await scenario(client, keyring.addFromUri(sender), keyring.addFromUri(`//Receiver/${index}`).address);
      } finally {
        await client.disconnect();
      }
    });
  }
});
