// Test driver for the Compute pallet: a dev chain started in-process, the real @polkadot/api over
// WebSocket, dev accounts as nodes, simulated training runs (honest or forged) and a player for the
// pinpoint game. Every extrinsic's fee is recorded so that scenarios can check that the sum of all
// balances (free + reserved) changes by exactly the fees paid.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiPromise, Keyring, WsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { Codec } from "@polkadot/types/types";
import { blake2AsHex, cryptoWaitReady } from "@polkadot/util-crypto";
import { type Devnet, startDevnet } from "../../chain/index.ts";
import { commitmentOf } from "../../chain/runtime/pallets/compute-hashing.ts";
import { JACKPOT_ACCOUNT } from "../../chain/runtime/pallets/compute-stake.ts";
import type { Hash, Parameters, Roles, TaskSpec } from "../../chain/runtime/pallets/compute-types.ts";
import { TranscriptLayout } from "../../protocol/transcript.ts";
import { checkpointTree, cumulative, type TrainingView, transcriptTree } from "./compute-runs.ts";

export const VT = 1_000_000_000_000n;
const ZERO = `0x${"00".repeat(32)}`;

type Tx = SubmittableExtrinsic<"promise">;

/** One event as the client decoded it, with its fields as plain values. */
export type SeenEvent = { section: string; method: string; data: Record<string, unknown> };

export type Receipt = { events: SeenEvent[]; error: string | null; fee: bigint };

function record(codec: Codec): Record<string, unknown> {
  const value = codec.toPrimitive();
  assert.ok(typeof value === "object" && value !== null && !Array.isArray(value), "expected a struct");
  return value as Record<string, unknown>;
}

export const big = (value: unknown): bigint => BigInt(String(value));
export const num = (value: unknown): number => Number(value);

/** Operators in the scenarios' simulated training-step graph. */
export const GRAPH_NODES = 5;

/** What the scenarios' nodes bond: each duty takes one role's stake (PROTOCOL.md §3). */
export const STAKE = { worker: 1_000n * VT, verifier: 500n * VT, whistleblower: 200n * VT } as const;

/** The task the scenarios create: one segment of 8 steps of a GRAPH_NODES graph, unless changed. */
export function taskSpec(change: Partial<TaskSpec> = {}): TaskSpec {
  return {
    modelHash: blake2AsHex("model", 256),
    datasetHash: blake2AsHex("dataset", 256),
    specHash: blake2AsHex("spec", 256),
    profile: null,
    maxSteps: 8n,
    checkpointInterval: 8n,
    graphNodes: GRAPH_NODES,
    verificationLevel: 1,
    ...change,
  };
}

/** The data of the first Compute event named `method`; fails the test when there is none. */
export function eventOf(events: SeenEvent[], method: string): SeenEvent["data"] {
  const event = events.find((e) => e.section === "compute" && e.method === method);
  assert.ok(event !== undefined, `event Compute.${method} was emitted`);
  return event.data;
}

/** The primitive form of an Option storage value, or null when absent. */
function optional(codec: Codec): Record<string, unknown> | null {
  const value = codec.toPrimitive();
  return value === null ? null : record(codec);
}

/** The six dev accounts funded at genesis, and //Grace, funded by the tests that need a seventh node. */
export type NodeName = "alice" | "bob" | "charlie" | "dave" | "eve" | "ferdie" | "grace";

export const ALL_ROLES: Roles = { worker: true, verifier: true, whistleblower: true };

export class ComputeScenario {
  readonly accounts: Record<NodeName, KeyringPair>;
  /** Forced-error secrets of the nodes, rotated on every reveal. */
  /** Forced-error secrets by their commitment. */
  readonly secrets = new Map<Hash, Hash>();
  #fees = 0n;
  readonly #feesBySigner = new Map<string, bigint>();
  #secretCounter = 0;

  private constructor(
    readonly api: ApiPromise,
    private readonly devnet: Devnet,
    private readonly dataDir: string,
  ) {
    const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
    const pair = (name: NodeName) => keyring.addFromUri(`//${name[0]!.toUpperCase()}${name.slice(1)}`);
    this.accounts = {
      alice: pair("alice"),
      bob: pair("bob"),
      charlie: pair("charlie"),
      dave: pair("dave"),
      eve: pair("eve"),
      ferdie: pair("ferdie"),
      grace: pair("grace"),
    };
  }

  static async start(): Promise<ComputeScenario> {
    await cryptoWaitReady();
    const dataDir = await mkdtemp(join(tmpdir(), "veritrain-compute-"));
    const devnet = await startDevnet({ port: 0, blockTimeMs: 0, dataDir });
    const api = await ApiPromise.create({ provider: new WsProvider(devnet.wsUrl), noInitWarn: true });
    return new ComputeScenario(api, devnet, dataDir);
  }

  async stop(): Promise<void> {
    await this.api.disconnect();
    await this.devnet.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  /** A call from the chain's own metadata (the client has no static types for this runtime). */
  call(section: string, method: string, ...args: unknown[]): Tx {
    const make = this.api.tx[section]?.[method];
    assert.ok(make !== undefined, `${section}.${method} is in the metadata`);
    return make(...args);
  }

  compute(method: string, ...args: unknown[]): Tx {
    return this.call("compute", method, ...args);
  }

  async query(section: string, item: string, ...keys: unknown[]): Promise<Codec> {
    const read = this.api.query[section]?.[item];
    assert.ok(read !== undefined, `${section}.${item} is in the metadata`);
    return read(...keys);
  }

  /** Signs, submits and waits for inclusion; decodes a failure into "Pallet.Error". */
  async send(signer: KeyringPair, tx: Tx): Promise<Receipt> {
    const receipt = await new Promise<Receipt>((resolve, reject) => {
      tx.signAndSend(signer, ({ status, events, dispatchError }) => {
        if (!status.isInBlock && !status.isFinalized) return;
        let error: string | null = null;
        if (dispatchError) {
          if (dispatchError.isModule) {
            const meta = this.api.registry.findMetaError(dispatchError.asModule);
            // Pallet names as the runtime declares them ("Compute.NotRegistered"), not as the client camel-cases them.
            error = `${meta.section.charAt(0).toUpperCase()}${meta.section.slice(1)}.${meta.name}`;
          } else {
            error = dispatchError.type;
          }
        }
        const seen = events.map(({ event }) => ({
          section: event.section,
          method: event.method,
          data: Object.fromEntries(
            event.meta.fields.map((field, i) => [
              field.name
                .unwrapOr("")
                .toString()
                .replace(/_(\w)/g, (_, c: string) => c.toUpperCase()),
              event.data[i]!.toPrimitive(),
            ]),
          ),
        }));
        const feeEvent = seen.find(
          (e) => e.section === "transactionPayment" && e.method === "TransactionFeePaid",
        );
        resolve({ events: seen, error, fee: feeEvent === undefined ? 0n : big(feeEvent.data.actualFee) });
      }).catch(reject);
    });
    this.#fees += receipt.fee;
    this.#feesBySigner.set(signer.address, this.feesPaidBy(signer) + receipt.fee);
    return receipt;
  }

  /** Every fee this signer paid through the driver so far. */
  feesPaidBy(signer: KeyringPair): bigint {
    return this.#feesBySigner.get(signer.address) ?? 0n;
  }

  async ok(signer: KeyringPair, tx: Tx): Promise<SeenEvent[]> {
    const receipt = await this.send(signer, tx);
    assert.equal(receipt.error, null, `${tx.method.section}.${tx.method.method} failed`);
    return receipt.events;
  }

  async fails(signer: KeyringPair, tx: Tx, error: string): Promise<void> {
    const receipt = await this.send(signer, tx);
    assert.equal(receipt.error, error, `${tx.method.section}.${tx.method.method}`);
  }

  async sudo(call: Tx): Promise<SeenEvent[]> {
    const events = await this.ok(this.accounts.alice, this.call("sudo", "sudo", call));
    const sudid = events.find((e) => e.method === "Sudid");
    assert.ok(sudid !== undefined);
    assert.deepEqual(sudid.data.sudoResult, { ok: null }, `sudo ${call.method.method} failed`);
    return events;
  }

  async blockNumber(): Promise<number> {
    return (await this.api.rpc.chain.getHeader()).number.toNumber();
  }

  /** Seals blocks (one remark each) until the chain's head is at least `target`. */
  async advanceTo(target: number): Promise<void> {
    while ((await this.blockNumber()) < target) {
      await this.ok(this.accounts.alice, this.call("system", "remark", "0x00"));
    }
  }

  async parameters(): Promise<Parameters> {
    const p = record(await this.query("compute", "parameters"));
    return {
      treasury: String(p.treasury),
      minWorkerStake: big(p.minWorkerStake),
      minVerifierStake: big(p.minVerifierStake),
      minWhistleblowerStake: big(p.minWhistleblowerStake),
      unbondingBlocks: num(p.unbondingBlocks),
      commitBlocks: num(p.commitBlocks),
      auditDelayBlocks: num(p.auditDelayBlocks),
      verdictBlocks: num(p.verdictBlocks),
      challengeBlocks: num(p.challengeBlocks),
      revealBlocks: num(p.revealBlocks),
      roundBlocks: num(p.roundBlocks),
      challengeBond: big(p.challengeBond),
      fraudSlashPercent: num(p.fraudSlashPercent),
      timeoutSlashPercent: num(p.timeoutSlashPercent),
      winnerSharePercent: num(p.winnerSharePercent),
      jackpotSharePercent: num(p.jackpotSharePercent),
      verifierSharePercent: num(p.verifierSharePercent),
      jackpotTaxPercent: num(p.jackpotTaxPercent),
      jackpotPayout: big(p.jackpotPayout),
      forcedErrorPpm: num(p.forcedErrorPpm),
      maxVerificationLevel: num(p.maxVerificationLevel),
      transcriptStride: num(p.transcriptStride),
    };
  }

  async setParameters(change: Partial<Parameters>): Promise<void> {
    const next = { ...(await this.parameters()), ...change };
    await this.sudo(this.compute("setParameters", next));
  }

  /** free + reserved of one account. */
  async balance(who: string): Promise<{ free: bigint; reserved: bigint }> {
    const info = record(await this.query("system", "account", who));
    const data = info.data as Record<string, unknown>;
    return { free: big(data.free), reserved: big(data.reserved) };
  }

  /** Free balance plus every fee the account paid: its differences show the pallet's effects alone. */
  async feeAdjustedFree(pair: KeyringPair): Promise<bigint> {
    return (await this.balance(pair.address)).free + this.feesPaidBy(pair);
  }

  async totalOfAllAccounts(): Promise<bigint> {
    const accounts = this.api.query.system?.account;
    assert.ok(accounts !== undefined);
    const entries = await accounts.entries();
    return entries.reduce((sum, [, info]) => {
      const data = record(info).data as Record<string, unknown>;
      return sum + big(data.free) + big(data.reserved);
    }, 0n);
  }

  /**
   * Runs a scenario and checks conservation: the sum of all balances, free and reserved, drops by
   * exactly the fees paid meanwhile, and the total issuance agrees with that sum.
   */
  async conserving(scenario: () => Promise<void>): Promise<void> {
    const before = await this.totalOfAllAccounts();
    const feesBefore = this.#fees;
    await scenario();
    const after = await this.totalOfAllAccounts();
    assert.equal(before - after, this.#fees - feesBefore, "balances changed by something other than fees");
    assert.equal(big((await this.query("balances", "totalIssuance")).toPrimitive()), after);
  }

  newSecret(): Hash {
    this.#secretCounter += 1;
    return blake2AsHex(`secret/${this.#secretCounter}/${Date.now()}`, 256);
  }

  async register(name: NodeName, roles: Roles, bond: bigint, profile: Hash = ZERO): Promise<void> {
    const secret = this.newSecret();
    this.secrets.set(commitmentOf(secret), secret);
    await this.ok(this.accounts[name], this.compute("register", roles, profile, commitmentOf(secret), bond));
  }

  async node(name: NodeName): Promise<Record<string, unknown> | null> {
    return optional(await this.query("compute", "nodes", this.accounts[name].address));
  }

  async task(taskId: bigint): Promise<Record<string, unknown>> {
    const task = optional(await this.query("compute", "tasks", taskId));
    assert.ok(task !== null, `task ${taskId} exists`);
    return task;
  }

  async dispute(disputeId: bigint): Promise<Record<string, unknown> | null> {
    return optional(await this.query("compute", "disputes", disputeId));
  }

  pairOf(address: unknown): KeyringPair {
    const pair = Object.values(this.accounts).find((p) => p.address === address);
    assert.ok(pair !== undefined, `${String(address)} is a dev account`);
    return pair;
  }

  async fundJackpot(amount: bigint): Promise<void> {
    await this.ok(this.accounts.alice, this.call("balances", "transferKeepAlive", JACKPOT_ACCOUNT, amount));
  }

  /** Commits the verifier to a fresh forced-error secret, so that it may take another audit. */
  async rotateCommitment(verifier: KeyringPair): Promise<SeenEvent[]> {
    const next = this.newSecret();
    this.secrets.set(commitmentOf(next), next);
    return await this.ok(verifier, this.compute("rotateCommitment", commitmentOf(next)));
  }

  /** Reveals the secret of the commitment the audit recorded and commits to a fresh one. */
  async reveal(taskId: bigint, auditIndex: number, verifier: KeyringPair): Promise<SeenEvent[]> {
    const audits = (await this.task(taskId)).audits as Array<Record<string, unknown>>;
    const secret = this.secrets.get(String(audits[auditIndex]?.commitment))!;
    const next = this.newSecret();
    this.secrets.set(commitmentOf(next), next);
    return await this.ok(verifier, this.compute("reveal", taskId, auditIndex, secret, commitmentOf(next)));
  }

  /**
   * Plays a dispute until it is resolved or `stopWhen` says so: each side answers from its own
   * view of the run, the referee (sudo) from the truth.
   */
  async playDispute(
    disputeId: bigint,
    views: {
      defender: TrainingView;
      challenger: TrainingView;
      truth: TrainingView;
      transcriptOf?: TrainingView;
    },
    stopWhen: (dispute: Record<string, unknown>) => boolean = () => false,
  ): Promise<void> {
    for (;;) {
      const d = await this.dispute(disputeId);
      if (d === null || stopWhen(d)) return;
      const lo = big(d.lo);
      const mid = await this.position(d);
      const step = big(d.step);
      if (d.turn === "Referee") {
        await this.sudo(this.compute("resolveDispute", disputeId, views.truth.output(step, Number(lo))));
      } else if (d.turn === "Defender") {
        const [hash, proof] = await this.defenderAnswer(
          d,
          mid,
          views.defender,
          views.transcriptOf ?? views.defender,
        );
        await this.ok(this.pairOf(d.defender), this.compute("respond", disputeId, hash, proof));
      } else {
        const mine =
          d.phase === "Steps" ? views.challenger.state(mid) : cumulative(views.challenger, step, mid);
        await this.ok(this.pairOf(d.challenger), this.compute("bisect", disputeId, mine === d.pending));
      }
    }
  }

  /** The transcript of the dispute's audit, strided as the chain recorded when drawing the audits. */
  private async transcriptOf(d: Record<string, unknown>, view: TrainingView) {
    const task = await this.task(big(d.taskId));
    return transcriptTree(view, big(d.segmentStart), big(d.segmentEnd), big(task.transcriptStride));
  }

  /** Where the dispute asks the defender next (compute-disputes.ts `midpoint`). */
  private async position(d: Record<string, unknown>): Promise<bigint> {
    const [lo, hi] = [big(d.lo), big(d.hi)];
    if (d.phase === "Steps" && d.kind === "Transcript") {
      const task = await this.task(big(d.taskId));
      const layout = new TranscriptLayout(big(d.segmentStart), big(d.segmentEnd), big(task.transcriptStride));
      return layout.bisectionPoint(lo, hi);
    }
    return (lo + hi) / 2n;
  }

  private async defenderAnswer(
    d: Record<string, unknown>,
    mid: bigint,
    view: TrainingView,
    transcriptView: TrainingView,
  ): Promise<[Hash, Hash[]]> {
    const lo = big(d.lo);
    const hi = big(d.hi);
    const transcript = await this.transcriptOf(d, transcriptView);
    switch (d.phase) {
      case "Opening": {
        if (d.kind === "Transcript") return [view.state(hi), transcript.proof(hi)];
        const task = await this.task(big(d.taskId));
        const spec = task.spec as Record<string, unknown>;
        const commitment = task.commitment as Record<string, unknown>;
        const tree = checkpointTree(view, big(commitment.steps), big(spec.checkpointInterval));
        const segment = num((task.audits as Array<Record<string, unknown>>)[num(d.auditIndex)]!.segment);
        return [view.state(hi), tree.proof(segment + 1)];
      }
      case "Steps":
        return [view.state(mid), d.kind === "Transcript" ? transcript.proof(mid) : []];
      case "Operators":
        return [cumulative(view, big(d.step), mid), []];
      default:
        return [view.output(big(d.step), Number(lo)), []];
    }
  }
}
