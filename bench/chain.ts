// Dev chain throughput: extrinsics per second sealed while several @polkadot/api clients, each in
// its own process and on its own WebSocket, submit signed extrinsics in parallel. Every signature
// is verified by the chain.
//
//   npm run bench:chain            (node --import tsx bench/chain.ts)
//   npm run bench:chain -- --clients 4 --per-client 500 --block-time 100 --signature-workers 1
//
// Clients sign before the clock starts (signing is the clients' cost, printed apart); the clock
// runs from the moment all clients start submitting until the chain has sealed the last extrinsic.
// Workloads are a table: add one (for example Compute commits) with its own setup and extrinsic.
import { type ChildProcess, fork } from "node:child_process";
import { parseArgs } from "node:util";
import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { startDevnet } from "../chain-bridge/devnet/index.ts";

type Workload = {
  readonly description: string;
  /** Runs once in the coordinator before the clients sign (funding, registrations, ...). */
  setup(api: ApiPromise, alice: KeyringPair, senders: readonly KeyringPair[]): Promise<void>;
  /** The index-th extrinsic a client's sender submits. */
  extrinsic(api: ApiPromise, sender: KeyringPair, index: number): SubmittableExtrinsic<"promise">;
};

const SENDER_FUNDS = 1_000n * 1_000_000_000_000n;
const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });

const WORKLOADS: Readonly<Record<string, Workload>> = {
  transfers: {
    description: "balances.transferKeepAlive of 1 planck to //Alice",
    setup: fundSenders,
    extrinsic: (api) => api.tx.balances!.transferKeepAlive!(keyring.addFromUri("//Alice").address, 1n),
  },
};

const { values: options } = parseArgs({
  options: {
    clients: { type: "string", default: "4" },
    "per-client": { type: "string", default: "500" },
    "block-time": { type: "string", default: "0" },
    "signature-workers": { type: "string", default: "1" },
    workload: { type: "string", default: "transfers" },
    "client-of": { type: "string" },
    index: { type: "string", default: "0" },
  },
});
const perClient = Number(options["per-client"]);
const workloadName = options.workload;
const workload = WORKLOADS[workloadName];
if (workload === undefined) {
  throw new Error(`unknown workload "${workloadName}"; known: ${Object.keys(WORKLOADS).join(", ")}`);
}

const sender = (index: number) => keyring.addFromUri(`//Bench//${index}`);

function included(extrinsic: SubmittableExtrinsic<"promise">, signer: KeyringPair): Promise<void> {
  return new Promise((resolve, reject) => {
    extrinsic
      .signAndSend(signer, (result) => {
        if (result.dispatchError !== undefined)
          reject(new Error(`setup failed: ${result.dispatchError.toString()}`));
        else if (result.status.isInBlock || result.status.isFinalized) resolve();
      })
      .catch(reject);
  });
}

async function fundSenders(
  api: ApiPromise,
  alice: KeyringPair,
  senders: readonly KeyringPair[],
): Promise<void> {
  const transfers = senders.map((s) => api.tx.balances!.transferKeepAlive!(s.address, SENDER_FUNDS));
  await included(api.tx.utility!.batchAll!(transfers), alice);
}

async function nonceOf(api: ApiPromise, address: string): Promise<number> {
  return (await api.rpc.system.accountNextIndex(address)).toNumber();
}

/** Client process: sign offline, report, submit everything on "go", report when all are admitted. */
async function runClient(wsUrl: string, index: number, work: Workload): Promise<void> {
  await cryptoWaitReady();
  const provider = new WsProvider(wsUrl);
  const api = await ApiPromise.create({ provider, noInitWarn: true });
  const pair = sender(index);
  const start = await nonceOf(api, pair.address);
  const signStart = performance.now();
  const signed: string[] = [];
  for (let i = 0; i < perClient; i++) {
    const extrinsic = work.extrinsic(api, pair, i).sign(pair, {
      nonce: start + i,
      era: api.registry.createType("ExtrinsicEra"),
      blockHash: api.genesisHash,
      genesisHash: api.genesisHash,
      runtimeVersion: api.runtimeVersion,
      signedExtensions: api.registry.signedExtensions,
    });
    signed.push(extrinsic.toHex());
  }
  process.send?.({ signed: perClient, seconds: (performance.now() - signStart) / 1000, start });
  await new Promise((resolve) => process.once("message", resolve));
  // Straight to the provider: the extrinsics are already encoded, no client-side decoding.
  await Promise.all(signed.map((hex) => provider.send("author_submitExtrinsic", [hex])));
  process.send?.({ submitted: perClient });
  await api.disconnect();
}

function message<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once("message", (value) => resolve(value as T));
    child.once("exit", (code) => reject(new Error(`client exited with ${code} before answering`)));
  });
}

async function coordinate(work: Workload): Promise<void> {
  const clients = Number(options.clients);
  const blockTimeMs = Number(options["block-time"]);
  const signatureWorkers = Number(options["signature-workers"]);
  const devnet = await startDevnet({ port: 0, blockTimeMs, signatureWorkers });
  const api = await ApiPromise.create({ provider: new WsProvider(devnet.wsUrl), noInitWarn: true });
  const senders = Array.from({ length: clients }, (_, i) => sender(i));
  await work.setup(api, keyring.addFromUri("//Alice"), senders);

  const children = senders.map((_, index) =>
    fork(new URL(import.meta.url).pathname, [
      "--client-of",
      devnet.wsUrl,
      "--index",
      String(index),
      "--per-client",
      String(perClient),
      "--workload",
      workloadName,
    ]),
  );
  const signing = await Promise.all(
    children.map((child) => message<{ signed: number; seconds: number; start: number }>(child)),
  );
  const total = clients * perClient;
  const headBefore = (await api.rpc.chain.getHeader()).number.toNumber();
  const clock = performance.now();
  const submitted = children.map((child) => message(child));
  for (const child of children) child.send("go");
  await Promise.all(submitted);
  const admittedSeconds = (performance.now() - clock) / 1000;
  for (;;) {
    const nonces = await Promise.all(senders.map((s) => api.query.system!.account!(s.address)));
    const done = nonces.every(
      (info, i) =>
        (info as unknown as { nonce: { toNumber(): number } }).nonce.toNumber() ===
        signing[i]!.start + perClient,
    );
    if (done) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const sealedSeconds = (performance.now() - clock) / 1000;
  const blocks = (await api.rpc.chain.getHeader()).number.toNumber() - headBefore;
  const signingRate = signing.reduce((sum, s) => sum + s.signed / s.seconds, 0);

  console.log(`workload: ${workloadName} (${work.description})`);
  console.log(
    `${clients} client processes x ${perClient} extrinsics, block time ${blockTimeMs === 0 ? "0 (instant seal)" : `${blockTimeMs} ms`}, signature workers ${signatureWorkers}`,
  );
  console.log(`client signing (before the clock): ${signingRate.toFixed(0)} extrinsics/s over all clients`);
  console.log(`admitted to the pool: ${total} in ${admittedSeconds.toFixed(2)} s`);
  console.log(
    `sealed: ${total} extrinsics in ${sealedSeconds.toFixed(2)} s over ${blocks} blocks = ${(total / sealedSeconds).toFixed(0)} extrinsics/s`,
  );
  await api.disconnect();
  await devnet.stop();
}

if (options["client-of"] === undefined) await coordinate(workload);
else await runClient(options["client-of"], Number(options.index), workload);
