// Dev chain throughput: extrinsics per second sealed while several @polkadot/api clients, each in
// its own process and on its own WebSocket, submit signed extrinsics in parallel. Every signature
// is verified by the chain, and every extrinsic's success event is checked before a figure counts.
//
//   npm run bench:chain                          (every workload, each on a fresh dev chain)
//   npm run bench:chain -- --workload commits --clients 4 --per-client 125 --rounds 4
//   npm run bench:chain -- --workload transfers --block-time 100 --signature-workers 0
//
// A workload is a series of phases. In each, the clients sign their jobs before the clock starts
// (signing is the clients' cost, printed apart), then all submit at once; the clock stops when the
// chain has sealed the last extrinsic. Only timed phases make the rate: set-up (funding, node
// registration, task creation, finalization) runs with the clock stopped, through the same clients
// where the chain wants the nodes' own signatures.
import { type ChildProcess, fork } from "node:child_process";
import { createHash } from "node:crypto";
import { loadavg } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import { compactStripLength, hexToU8a, u8aToHex } from "@polkadot/util";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { startDevnet } from "../chain/index.ts";
import { newForcedErrorSecret } from "../chain-bridge/forced-errors.ts";
import {
  type DecodedEvent,
  decodeEvent,
  describeDispatchError,
  eventsAt,
  type JsonValue,
} from "../chain-bridge/inclusion.ts";
import { bigintOf, objectOf } from "../chain-bridge/values.ts";
import { merkleRoot } from "../protocol/merkle.ts";

const VT = 1_000_000_000_000n;
const TARGET_PER_SECOND = 500;
/** The dev chain's Utility.MAX_BATCH_CALLS: longer lists are split over several batches. */
const BATCH_LIMIT = 1024;
const DEV_ACCOUNTS = ["//Alice", "//Bob", "//Charlie", "//Dave", "//Eve", "//Ferdie"];

type BenchErrorCode =
  | "INVALID_OPTION"
  | "UNKNOWN_CALL"
  | "SETUP_FAILED"
  | "CLIENT_FAILED"
  | "OUTCOME_MISMATCH";

class BenchError extends Error {
  constructor(
    readonly code: BenchErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "BenchError";
  }
}

/** One extrinsic a client signs and submits; plain JSON, so it crosses the IPC channel as is. */
type Job = {
  /** Secret URI of the signing key. */
  readonly signer: string;
  readonly section: string;
  readonly method: string;
  /** Arguments as @polkadot/api accepts them (integers beyond 2^53 as decimal strings). */
  readonly args: readonly JsonValue[];
  /** The key of the success event this extrinsic must produce (see Phase.outcome). */
  readonly expect: string;
};

type Phase = {
  readonly label: string;
  /** Only timed phases make the rate; the others are set-up run through the same clients. */
  readonly timed: boolean;
  /** Each client's jobs, signed in order (one signer's nonces follow one another). */
  readonly jobs: readonly (readonly Job[])[];
  /** The key a success event stands for, undefined for other events. */
  outcome(event: DecodedEvent): string | undefined;
};

type Bench = {
  readonly api: ApiPromise;
  readonly clients: number;
  readonly perClient: number;
  readonly rounds: number;
};

type Workload = {
  readonly description: string;
  readonly timedPart: string;
  readonly defaults: { readonly perClient: number; readonly rounds: number };
  /** Coordinator side: set-up on the chain with the clock stopped, around the phases it yields. */
  phases(bench: Bench): AsyncGenerator<Phase, void, void>;
};

const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
const pairs = new Map<string, KeyringPair>();

/** Key derivation is not free: each URI is derived once per process. */
function pairOf(uri: string): KeyringPair {
  let pair = pairs.get(uri);
  if (pair === undefined) {
    pair = keyring.createFromUri(uri);
    pairs.set(uri, pair);
  }
  return pair;
}

const addressOf = (uri: string) => pairOf(uri).address;

function callOf(api: ApiPromise, job: Job) {
  const make = api.tx[job.section]?.[job.method];
  if (make === undefined) {
    throw new BenchError("UNKNOWN_CALL", `${job.section}.${job.method} is not in the chain's metadata`);
  }
  return make(...job.args);
}

/** Signs and submits from the coordinator; resolves with the events once the extrinsic is in a block. */
function included(
  api: ApiPromise,
  extrinsic: SubmittableExtrinsic<"promise">,
  signer: KeyringPair,
): Promise<DecodedEvent[]> {
  const name = `${extrinsic.method.section}.${extrinsic.method.method}`;
  return new Promise((resolve, reject) => {
    const unsubscribe = extrinsic.signAndSend(signer, (result) => {
      if (!result.status.isInBlock && !result.status.isFinalized) return;
      void unsubscribe.then((stop) => stop());
      if (result.dispatchError === undefined) resolve(result.events.map(decodeEvent));
      else {
        const { detail } = describeDispatchError(api, result.dispatchError);
        reject(new BenchError("SETUP_FAILED", `set-up ${name} from ${signer.address} failed: ${detail}`));
      }
    });
    unsubscribe.catch(reject);
  });
}

/** Set-up calls of one signer, as utility.batchAll (all or nothing) of at most BATCH_LIMIT calls. */
async function batched(
  api: ApiPromise,
  signer: KeyringPair,
  calls: readonly SubmittableExtrinsic<"promise">[],
): Promise<DecodedEvent[]> {
  const events: DecodedEvent[] = [];
  for (let start = 0; start < calls.length; start += BATCH_LIMIT) {
    const batch = api.tx.utility!.batchAll!(calls.slice(start, start + BATCH_LIMIT));
    events.push(...(await included(api, batch, signer)));
  }
  return events;
}

/** Funds accounts from every dev account in turn: one alone cannot pay thousands of worker stakes. */
async function fund(api: ApiPromise, addresses: readonly string[], amount: bigint): Promise<void> {
  await Promise.all(
    DEV_ACCOUNTS.map((funder, f) =>
      batched(
        api,
        pairOf(funder),
        addresses
          .filter((_, i) => i % DEV_ACCOUNTS.length === f)
          .map((address) => api.tx.balances!.transferKeepAlive!(address, amount)),
      ),
    ),
  );
}

const isEvent = (event: DecodedEvent, pallet: string, name: string) =>
  event.pallet === pallet && event.name === name;

async function* transferPhases({ api, clients, perClient, rounds }: Bench): AsyncGenerator<Phase> {
  const alice = addressOf("//Alice");
  const senders = Array.from({ length: clients }, (_, i) => `//Bench//${i}`);
  await fund(api, senders.map(addressOf), 1_000n * VT);
  for (let round = 1; round <= rounds; round++) {
    yield {
      label: `transfers, round ${round} of ${rounds}`,
      timed: true,
      jobs: senders.map((signer) =>
        Array.from({ length: perClient }, () => ({
          signer,
          section: "balances",
          method: "transferKeepAlive",
          args: [alice, 1],
          expect: addressOf(signer),
        })),
      ),
      outcome: (event) =>
        isEvent(event, "Balances", "Transfer") && event.data.to === alice
          ? String(event.data.from)
          : undefined,
    };
  }
}

const MAX_STEPS = 1_000n;
const CHECKPOINT_INTERVAL = 100n;
const TASK_PRICE = VT;
const digest = (text: string) => new Uint8Array(createHash("sha256").update(text).digest());

/**
 * The commit an honest worker makes (PROTOCOL.md §5.2): leaf i is the hash of its checkpoint after
 * min(i · interval, steps) steps, the root is the SDK's RFC 6962 tree over the leaves, the result
 * is the last leaf. Steps vary by task (a job may stop early), and the checkpoint count with them.
 */
function commitJob(signer: string, taskId: bigint): Job {
  const steps = 1n + ((taskId * 37n) % MAX_STEPS);
  const checkpoints = Number((steps + CHECKPOINT_INTERVAL - 1n) / CHECKPOINT_INTERVAL) + 1;
  const leaves = Array.from({ length: checkpoints }, (_, i) => {
    const step = BigInt(i) * CHECKPOINT_INTERVAL;
    return digest(`bench task ${taskId}: state after step ${step < steps ? step : steps}`);
  });
  return {
    signer,
    section: "compute",
    method: "commit",
    args: [
      taskId.toString(),
      u8aToHex(merkleRoot(leaves)),
      checkpoints,
      steps.toString(),
      u8aToHex(leaves[checkpoints - 1]),
    ],
    expect: `${taskId}/${addressOf(signer)}`,
  };
}

async function* commitPhases({ api, clients, perClient, rounds }: Bench): AsyncGenerator<Phase> {
  const parameters = objectOf((await api.query.compute!.parameters!()).toPrimitive(), "Compute.Parameters");
  const stake = bigintOf(parameters.minWorkerStake, "Compute.Parameters.minWorkerStake");
  // Client c holds workers c·perClient…: every worker signs in one client only, so nonces never race.
  const workers = Array.from({ length: clients }, (_, c) =>
    Array.from({ length: perClient }, (_, i) => `//Bench//worker//${c * perClient + i}`),
  );
  const owner = new Map(workers.flatMap((mine, c) => mine.map((uri) => [addressOf(uri), { c, uri }])));
  // The stake and a margin for fees: a commit costs about 1.5 µVT.
  await fund(api, [...owner.keys()], stake + VT);
  yield {
    label: "worker registration (compute.register with the minimum worker stake)",
    timed: false,
    jobs: workers.map((mine) =>
      mine.map((signer) => ({
        signer,
        section: "compute",
        method: "register",
        args: [
          { worker: true, verifier: false, whistleblower: false },
          u8aToHex(digest("bench determinism profile")),
          // A commitment is part of every registration; a pure worker never reveals it.
          newForcedErrorSecret().commitment,
          stake.toString(),
        ],
        expect: addressOf(signer),
      })),
    ),
    outcome: (event) => (isEvent(event, "Compute", "NodeRegistered") ? String(event.data.who) : undefined),
  };

  const spec = {
    modelHash: u8aToHex(digest("bench model")),
    datasetHash: u8aToHex(digest("bench dataset")),
    specHash: u8aToHex(digest("bench training spec")),
    profile: null,
    maxSteps: MAX_STEPS,
    checkpointInterval: CHECKPOINT_INTERVAL,
    graphNodes: 64,
    // No audits: the task can be finalized right after its commit, which frees the worker for the
    // next round (audits would hold it through the verdict, challenge and reveal windows).
    verificationLevel: 0,
  };
  const alice = pairOf("//Alice");
  for (let round = 1; round <= rounds; round++) {
    // A worker holds one task at a time, and there are as many tasks as workers: each gets one.
    const created = await batched(
      api,
      alice,
      Array.from({ length: owner.size }, () => api.tx.compute!.createTask!(spec, TASK_PRICE)),
    );
    const jobs: Job[][] = workers.map(() => []);
    const taskIds: bigint[] = [];
    for (const event of created.filter((e) => isEvent(e, "Compute", "WorkerAssigned"))) {
      const taskId = bigintOf(event.data.taskId, "WorkerAssigned.taskId");
      const worker = owner.get(String(event.data.worker));
      if (worker === undefined) {
        throw new BenchError(
          "SETUP_FAILED",
          `task ${taskId} went to ${event.data.worker}, not a bench worker`,
        );
      }
      jobs[worker.c]!.push(commitJob(worker.uri, taskId));
      taskIds.push(taskId);
    }
    yield {
      label: `commits, round ${round} of ${rounds}`,
      timed: true,
      jobs,
      outcome: (event) =>
        isEvent(event, "Compute", "CheckpointsCommitted")
          ? `${event.data.taskId}/${event.data.worker}`
          : undefined,
    };
    await batched(
      api,
      alice,
      taskIds.map((taskId) => api.tx.compute!.finalize!(taskId)),
    );
  }
}

const WORKLOADS: Readonly<Record<string, Workload>> = {
  transfers: {
    description: "balances.transferKeepAlive of 1 planck to //Alice",
    timedPart: "the transfers; funding the senders is set-up",
    defaults: { perClient: 500, rounds: 1 },
    phases: transferPhases,
  },
  commits: {
    description: "compute.commit of a checkpoint Merkle root by each task's assigned worker",
    timedPart:
      "the commits; set-up not timed: funding, worker registration, task creation, finalization between rounds",
    defaults: { perClient: 125, rounds: 4 },
    phases: commitPhases,
  },
};

type ToClient = { readonly jobs: readonly Job[] } | { readonly go: true } | { readonly done: true };
type FromClient =
  | { readonly signed: number; readonly seconds: number }
  | { readonly submitted: number }
  | { readonly error: string };

/** Messages of one IPC channel in arrival order; one arriving while nobody waits is kept. */
class Mailbox<T> {
  readonly #queue: T[] = [];
  readonly #waiting: Array<{ resolve(value: T): void; reject(error: Error): void }> = [];
  #closed: Error | undefined;

  deliver(value: T): void {
    const waiter = this.#waiting.shift();
    if (waiter === undefined) this.#queue.push(value);
    else waiter.resolve(value);
  }

  close(error: Error): void {
    this.#closed ??= error;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(error);
  }

  next(): Promise<T> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }
}

/** A client process as the coordinator sees it. */
class Client {
  readonly #mailbox = new Mailbox<FromClient>();
  readonly #exited: Promise<void>;

  constructor(readonly process: ChildProcess) {
    process.on("message", (message) => this.#mailbox.deliver(message as FromClient));
    this.#exited = new Promise((resolve) =>
      process.once("exit", (code) => {
        this.#mailbox.close(new BenchError("CLIENT_FAILED", `client ${process.pid} exited with ${code}`));
        resolve();
      }),
    );
  }

  send(message: ToClient): void {
    this.process.send(message);
  }

  async next<K extends "signed" | "submitted">(key: K): Promise<Extract<FromClient, Record<K, unknown>>> {
    const message = await this.#mailbox.next();
    if ("error" in message)
      throw new BenchError("CLIENT_FAILED", `client ${this.process.pid}: ${message.error}`);
    if (!(key in message)) {
      throw new BenchError("CLIENT_FAILED", `client ${this.process.pid} sent ${JSON.stringify(message)}`);
    }
    return message as Extract<FromClient, Record<K, unknown>>;
  }

  /** Lets the client finish, or stops it when it is stuck (after a failed phase). */
  async close(): Promise<void> {
    if (this.process.connected) this.send({ done: true });
    const stuck = setTimeout(() => this.process.kill(), 10_000);
    await this.#exited;
    clearTimeout(stuck);
  }
}

/** Client process: for each phase, sign offline, report, submit everything on "go", report. */
async function runClient(wsUrl: string): Promise<void> {
  const mailbox = new Mailbox<ToClient>();
  process.on("message", (message) => mailbox.deliver(message as ToClient));
  const reply = (message: FromClient) => process.send?.(message);
  await cryptoWaitReady();
  const provider = new WsProvider(wsUrl);
  const api = await ApiPromise.create({ provider, noInitWarn: true });
  try {
    for (let message = await mailbox.next(); "jobs" in message; message = await mailbox.next()) {
      const signers = [...new Set(message.jobs.map((job) => job.signer))];
      const nonces = new Map(
        await Promise.all(
          signers.map(
            async (uri) => [uri, (await api.rpc.system.accountNextIndex(addressOf(uri))).toNumber()] as const,
          ),
        ),
      );
      const signStart = performance.now();
      const signed = message.jobs.map((job) => {
        const nonce = nonces.get(job.signer)!;
        nonces.set(job.signer, nonce + 1);
        return callOf(api, job)
          .sign(pairOf(job.signer), {
            nonce,
            era: api.registry.createType("ExtrinsicEra"),
            blockHash: api.genesisHash,
            genesisHash: api.genesisHash,
            runtimeVersion: api.runtimeVersion,
            signedExtensions: api.registry.signedExtensions,
          })
          .toHex();
      });
      reply({ signed: signed.length, seconds: (performance.now() - signStart) / 1000 });
      await mailbox.next();
      // Straight to the provider: the extrinsics are already encoded, no client-side decoding.
      await Promise.all(signed.map((hex) => provider.send("author_submitExtrinsic", [hex])));
      reply({ submitted: signed.length });
    }
  } catch (error) {
    reply({ error: error instanceof Error ? error.message : String(error) });
  } finally {
    await api.disconnect();
    process.disconnect?.();
  }
}

/** Signed extrinsics (format v4) have the top bit of the version byte after their length prefix set. */
function isSigned(extrinsic: string): boolean {
  const [, body] = compactStripLength(hexToU8a(extrinsic));
  return ((body[0] ?? 0) & 0x80) !== 0;
}

/**
 * Follows the chain from block `after` until `total` signed extrinsics are in blocks; returns the
 * last block's number. Raw JSON-RPC: nothing is decoded while the clock runs on the chain's thread.
 */
async function sealedUpTo(
  provider: WsProvider,
  after: number,
  total: number,
  signal: AbortSignal,
): Promise<number> {
  let seen = after;
  let count = 0;
  for (;;) {
    signal.throwIfAborted();
    const head = Number((await provider.send<{ number: string }>("chain_getHeader", [])).number);
    while (seen < head) {
      seen += 1;
      const hash = await provider.send<string>("chain_getBlockHash", [seen]);
      const { block } = await provider.send<{ block: { extrinsics: string[] } }>("chain_getBlock", [hash]);
      count += block.extrinsics.filter(isSigned).length;
    }
    if (count >= total) return seen;
    await delay(5);
  }
}

/** Every job's success event must be in blocks (after, last], once, and no extrinsic may have failed. */
async function checkOutcomes(api: ApiPromise, phase: Phase, after: number, last: number): Promise<number> {
  const expected = new Map<string, number>();
  for (const job of phase.jobs.flat()) expected.set(job.expect, (expected.get(job.expect) ?? 0) + 1);
  const unexpected: string[] = [];
  let failed = 0;
  let succeeded = 0;
  for (let number = after + 1; number <= last; number++) {
    const records = await eventsAt(api, (await api.rpc.chain.getBlockHash(number)).toHex());
    for (const event of records.map(decodeEvent)) {
      if (isEvent(event, "System", "ExtrinsicFailed")) failed += 1;
      const key = phase.outcome(event);
      if (key === undefined) continue;
      const left = expected.get(key) ?? 0;
      if (left === 0) unexpected.push(key);
      else {
        expected.set(key, left - 1);
        succeeded += 1;
      }
    }
  }
  const missing = [...expected].filter(([, left]) => left > 0).map(([key]) => key);
  if (failed > 0 || missing.length > 0 || unexpected.length > 0) {
    throw new BenchError(
      "OUTCOME_MISMATCH",
      `${phase.label}: ${failed} extrinsics failed; no success event for ${missing.length} (${missing.slice(0, 3).join(", ")}); ${unexpected.length} unexpected (${unexpected.slice(0, 3).join(", ")})`,
    );
  }
  return succeeded;
}

type Figures = { extrinsics: number; seconds: number; admittedSeconds: number; blocks: number };

async function runPhase(
  api: ApiPromise,
  provider: WsProvider,
  clients: readonly Client[],
  phase: Phase,
): Promise<Figures> {
  for (const [i, client] of clients.entries()) client.send({ jobs: phase.jobs[i] ?? [] });
  const signing = await Promise.all(clients.map((client) => client.next("signed")));
  const total = signing.reduce((sum, s) => sum + s.signed, 0);
  const signingRate = signing.reduce((sum, s) => sum + (s.seconds > 0 ? s.signed / s.seconds : 0), 0);
  const headBefore = Number((await provider.send<{ number: string }>("chain_getHeader", [])).number);

  const aborted = new AbortController();
  const clock = performance.now();
  for (const client of clients) client.send({ go: true });
  const [admittedAt, last] = await Promise.all([
    Promise.all(clients.map((client) => client.next("submitted"))).then(
      () => performance.now(),
      (error: unknown) => {
        aborted.abort(error);
        throw error;
      },
    ),
    sealedUpTo(provider, headBefore, total, aborted.signal),
  ]);
  const seconds = (performance.now() - clock) / 1000;

  const succeeded = await checkOutcomes(api, phase, headBefore, last);
  const figures = {
    extrinsics: total,
    seconds,
    admittedSeconds: (admittedAt - clock) / 1000,
    blocks: last - headBefore,
  };
  console.log(
    `${phase.timed ? "timed" : "set-up, not timed"}: ${phase.label}: signed at ${signingRate.toFixed(0)}/s before the clock; ` +
      `admitted in ${figures.admittedSeconds.toFixed(2)} s; sealed ${total} in ${seconds.toFixed(2)} s over ${figures.blocks} blocks ` +
      `= ${(total / seconds).toFixed(0)}/s; ${succeeded} success events, 0 failures`,
  );
  return figures;
}

function positive(name: string, value: string | undefined, fallback: number, minimum = 1): number {
  const parsed = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(parsed) || parsed < minimum) {
    throw new BenchError("INVALID_OPTION", `--${name} must be a whole number >= ${minimum}, got "${value}"`);
  }
  return parsed;
}

async function measure(name: string, workload: Workload, options: Options): Promise<void> {
  const clients = positive("clients", options.clients, 4);
  const perClient = positive("per-client", options["per-client"], workload.defaults.perClient);
  const rounds = positive("rounds", options.rounds, workload.defaults.rounds);
  const blockTimeMs = positive("block-time", options["block-time"], 0, 0);
  const signatureWorkers = positive("signature-workers", options["signature-workers"], 1, 0);
  const loadBefore = loadavg()[0]!;
  const devnet = await startDevnet({ port: 0, blockTimeMs, signatureWorkers });
  const provider = new WsProvider(devnet.wsUrl);
  const api = await ApiPromise.create({ provider, noInitWarn: true });
  const children = Array.from(
    { length: clients },
    () => new Client(fork(new URL(import.meta.url).pathname, ["--client-of", devnet.wsUrl])),
  );
  try {
    console.log(`workload: ${name} (${workload.description})`);
    const timed: Figures[] = [];
    for await (const phase of workload.phases({ api, clients, perClient, rounds })) {
      const figures = await runPhase(api, provider, children, phase);
      if (phase.timed) timed.push(figures);
    }
    const total = timed.reduce((sum, f) => sum + f.extrinsics, 0);
    const seconds = timed.reduce((sum, f) => sum + f.seconds, 0);
    const blocks = timed.reduce((sum, f) => sum + f.blocks, 0);
    const rate = total / seconds;
    console.log(
      `${clients} client processes x ${perClient} extrinsics x ${rounds} round(s), block time ${blockTimeMs === 0 ? "0 (instant seal)" : `${blockTimeMs} ms`}, signature workers ${signatureWorkers}`,
    );
    console.log(`timed: ${workload.timedPart}`);
    console.log(
      `${name}: ${total} extrinsics sealed in ${seconds.toFixed(2)} s over ${blocks} blocks = ${rate.toFixed(0)} extrinsics/s ` +
        `(target ${TARGET_PER_SECOND}/s: ${rate >= TARGET_PER_SECOND ? "met" : "NOT met"}, ${(rate / TARGET_PER_SECOND).toFixed(2)}x)`,
    );
    console.log(`load average (1 min): ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after\n`);
  } finally {
    await Promise.all(children.map((child) => child.close()));
    await api.disconnect();
    await devnet.stop();
  }
}

const { values } = parseArgs({
  options: {
    workload: { type: "string" },
    clients: { type: "string" },
    "per-client": { type: "string" },
    rounds: { type: "string" },
    "block-time": { type: "string" },
    "signature-workers": { type: "string" },
    "client-of": { type: "string" },
  },
});
type Options = typeof values;

if (values["client-of"] !== undefined) await runClient(values["client-of"]);
else {
  const names = values.workload === undefined ? Object.keys(WORKLOADS) : [values.workload];
  for (const name of names) {
    const workload = WORKLOADS[name];
    if (workload === undefined) {
      throw new BenchError(
        "INVALID_OPTION",
        `unknown workload "${name}"; known: ${Object.keys(WORKLOADS).join(", ")}`,
      );
    }
    await measure(name, workload, values);
  }
}
