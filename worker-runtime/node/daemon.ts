// The node daemon behind `veritrain node`: it loads the node's key, registers with the gateway,
// then claims and runs tasks of its role one at a time until stopped (a whistleblower instead
// re-checks verdicts, whistleblower.ts), and plays every dispute it is party to beside them
// (dispute-player.ts). Nothing waits for the
// verification of earlier work: a worker's duty on chain lasts until its task is finalized, and a
// verifier's until its reveal after the challenge window, so the chain's capacity by stake
// (PROTOCOL.md §3) decides how many are open; the reveals run beside the next audits. A stop (SIGTERM) ends
// the current claim's wait at once, stops training at the next step and gives the task back,
// so another node resumes it from the last uploaded checkpoint.
import { setTimeout as sleep } from "node:timers/promises";
import { NodeChainClient } from "../../chain-bridge/index.ts";
import type { NodeRole } from "../../protocol/node-wire.ts";
import { checkThreads } from "../train/profile.ts";
import { warmUp } from "../train/warm-up.ts";
import { runAuditTask } from "./audit-task.ts";
import { type AuditDuty, pendingReveals, revealWhenDue } from "./chain-duties.ts";
import { ensureStaked } from "./chain-stake.ts";
import { keepCommitmentFresh } from "./commitment-keeper.ts";
import { answerDeliveryChallenges } from "./delivery-answer.ts";
import { gatewayEvidence } from "./dispute-evidence.ts";
import { DisputePlayer } from "./dispute-player.ts";
import { disputeRecords, pruneRecords, roomForRecords } from "./dispute-records.ts";
import { NodeError } from "./errors.ts";
import type { Fault } from "./faults.ts";
import { GatewayClient } from "./gateway-client.ts";
import { loadIdentity, type NodeIdentity } from "./identity.ts";
import { determinismProfileHash } from "./profile-check.ts";
import { runTrainingTask, type TaskContext } from "./training-task.ts";
import { checkRecheckShare, DEFAULT_RECHECK_SHARE, Whistleblower } from "./whistleblower.ts";

export interface NodeDaemonOptions {
  role: NodeRole;
  apiUrl: string;
  /** The chain's WebSocket RPC; with it the node stakes for its role before asking for work. */
  chainUrl?: string;
  seed: string;
  dataDir: string;
  log: (message: string) => void;
  /** A misbehaviour to inject on purpose (faults.ts, checked by faultFor); absent for an honest node. */
  fault?: Fault;
  /** Intra-op threads of its trainings and replays (default 1): part of its determinism profile. */
  threads?: number;
  /** How many tasks or audits at once its bond backs when it registers (default 1). */
  duties?: number;
  /** Long-poll length per claim, at most 20 s. */
  claimWaitSeconds?: number;
  /** A whistleblower's share of verdicts it re-checks (default DEFAULT_RECHECK_SHARE). */
  recheckShare?: number;
  /**
   * The most its dispute records may hold (default DEFAULT_RECORDS_LIMIT_BYTES): beyond it, after
   * pruning what no dispute needs, it takes no work that would keep another (dispute-records.ts).
   */
  recordsLimitBytes?: number;
}

/** A few records of the largest uploads (a model and a dataset of up to 2 GiB each, and checkpoints). */
export const DEFAULT_RECORDS_LIMIT_BYTES = 20 * 2 ** 30;

// Records are pruned this often: a challenge window or a dispute's turn lasts minutes.
const RECORDS_PRUNE_MS = 60_000;
// A challenged worker has one round (`round_blocks`) to answer: look a few times per round.
const DELIVERY_POLL_MS = 2_000;

// After a failure the daemon waits before trying again, doubling up to a minute.
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 60_000;

// A gateway that is starting or briefly failing is waited for at start-up; a refusal (4xx) is final.
const REGISTER_ATTEMPTS = 6;

async function registerWithRetries(client: GatewayClient, options: NodeDaemonOptions) {
  for (let attempt = 1, backoff = FIRST_BACKOFF_MS; ; attempt++, backoff *= 2) {
    try {
      return await client.register([options.role], determinismProfileHash(options.threads));
    } catch (error) {
      const transient =
        error instanceof NodeError &&
        (error.code === "GATEWAY_UNREACHABLE" || (error.status !== undefined && error.status >= 500));
      if (!transient || attempt === REGISTER_ATTEMPTS) throw error;
      options.log(`registering failed (${error.message}); trying again in ${backoff / 1000} s`);
      await sleep(backoff);
    }
  }
}

export class NodeDaemon {
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  /** Reveals waiting for their windows, and the verifier's commitment keeper: they end with a stop. */
  private readonly background = new Set<Promise<void>>();

  private constructor(
    private readonly options: NodeDaemonOptions,
    readonly identity: NodeIdentity,
    private readonly client: GatewayClient,
    private readonly chain: NodeChainClient | null,
  ) {}

  static async start(options: NodeDaemonOptions): Promise<NodeDaemon> {
    checkThreads(options.threads ?? 1);
    checkRecheckShare(options.recheckShare ?? DEFAULT_RECHECK_SHARE);
    if (options.role === "whistleblower" && !options.chainUrl) {
      throw new NodeError("CHAIN_REJECTED", "a whistleblower challenges on chain: start it with --chain");
    }
    const identity = await loadIdentity(options.seed);
    const chain = options.chainUrl ? await NodeChainClient.connect(options.chainUrl, options.seed) : null;
    try {
      if (chain) {
        const { threads, duties } = options;
        await ensureStaked(chain, options.role, options.dataDir, options.log, { threads, duties });
      }
      // Before the first duty, so that no duty's compute report pays for compiling the code.
      await warmUp(options.threads ?? 1);
      const client = new GatewayClient(options.apiUrl, identity);
      const node = await registerWithRetries(client, options);
      options.log(`registered ${node.address} as ${node.roles.join(", ")}`);
      const daemon = new NodeDaemon(options, identity, client, chain);
      daemon.running = daemon.loop().finally(() => chain?.close());
      return daemon;
    } catch (error) {
      await chain?.close();
      throw error;
    }
  }

  /** Resolves when the daemon has stopped (after `stop`, or never for a healthy one). */
  done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.options.log("stopping");
    this.stopping.abort();
    await this.done();
  }

  private beside(work: Promise<void>): void {
    const tracked = work
      .catch((error: unknown) => this.options.log(`background duty failed: ${(error as Error).message}`))
      .finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  /** A stopped node leaves a reveal it still owes on file; the next run takes it up (pendingReveals). */
  private revealLater(chain: NodeChainClient, duty: AuditDuty): void {
    this.beside(revealWhenDue(chain, this.options.dataDir, duty, this.stopping.signal, this.options.log));
  }

  private async loop(): Promise<void> {
    const { role, log } = this.options;
    const context: TaskContext = {
      client: this.client,
      chain: this.chain,
      identity: this.identity,
      dataDir: this.options.dataDir,
      log,
      fault: this.options.fault ?? null,
      threads: this.options.threads ?? 1,
    };
    const stop = this.stopping.signal;
    const chain = this.chain;
    if (chain && role === "verifier") {
      for (const owed of pendingReveals(this.options.dataDir)) this.revealLater(chain, owed);
      this.beside(keepCommitmentFresh(chain, this.options.dataDir, stop, log));
    }
    if (chain) {
      const fault = this.options.fault;
      const player = new DisputePlayer({
        chain,
        record: disputeRecords(this.options.dataDir),
        evidence: gatewayEvidence(this.client),
        log,
        alwaysDisagree: fault?.role === "verifier" && fault.verdict === "disagrees",
      });
      this.beside(player.playUntilStopped(stop));
      this.beside(this.pruneRecordsUntilStopped(chain));
      // A worker that withholds what it committed never answers a challenge of it.
      if (role === "worker" && !(fault?.role === "worker" && fault.withhold))
        this.beside(this.answerDeliveriesUntilStopped(chain));
    }
    try {
      if (role === "whistleblower" && chain) {
        const whistleblower = new Whistleblower({
          chain,
          client: this.client,
          seed: this.options.seed,
          dataDir: this.options.dataDir,
          recheckShare: this.options.recheckShare ?? DEFAULT_RECHECK_SHARE,
          threads: context.threads,
          recordsLimitBytes: this.recordsLimitBytes,
          log,
        });
        await whistleblower.watchUntilStopped(stop);
      } else await this.claimUntilStopped(context);
    } finally {
      await Promise.all(this.background);
    }
  }

  private get recordsLimitBytes(): number {
    return this.options.recordsLimitBytes ?? DEFAULT_RECORDS_LIMIT_BYTES;
  }

  /** Removes the dispute records no dispute can need any more, now and then, until stopped. */
  private async pruneRecordsUntilStopped(chain: NodeChainClient): Promise<void> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      const pruned = await pruneRecords(this.options.dataDir, chain).catch((error: unknown) => {
        this.options.log(`pruning dispute records failed: ${(error as Error).message}`);
        return [];
      });
      if (pruned.length > 0)
        this.options.log(`pruned the dispute records of chain tasks ${pruned.join(", ")}`);
      await sleep(RECORDS_PRUNE_MS, undefined, { signal: stop }).catch(() => undefined);
    }
  }

  /** Answers the delivery challenges naming this worker (delivery-answer.ts), until stopped. */
  private async answerDeliveriesUntilStopped(chain: NodeChainClient): Promise<void> {
    const stop = this.stopping.signal;
    const answered = new Set<string>();
    while (!stop.aborted) {
      const now = await answerDeliveryChallenges(this.options.dataDir, chain, this.client, answered).catch(
        (error: unknown) => {
          this.options.log(`answering a delivery challenge failed: ${(error as Error).message}`);
          return [];
        },
      );
      if (now.length > 0)
        this.options.log(`republished the committed checkpoints of challenged chain tasks ${now.join(", ")}`);
      await sleep(DELIVERY_POLL_MS, undefined, { signal: stop }).catch(() => undefined);
    }
  }

  /**
   * Whether another record may be kept: a task or an audit keeps one on chain. When the records
   * still needed reach the limit, the node waits `seconds` (its disputes settle meanwhile) instead.
   */
  private async roomForRecords(seconds: number): Promise<boolean> {
    if (!this.chain) return true;
    const { room, bytes } = await roomForRecords(this.options.dataDir, this.chain, this.recordsLimitBytes);
    if (room) return true;
    this.options.log(
      `taking no work: dispute records still needed hold ${bytes} bytes, the limit is ${this.recordsLimitBytes}`,
    );
    await sleep(seconds * 1000, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    return false;
  }

  private async claimUntilStopped(context: TaskContext): Promise<void> {
    const { role, log } = this.options;
    const wait = Math.min(this.options.claimWaitSeconds ?? 20, 20);
    const stop = this.stopping.signal;
    let backoff = FIRST_BACKOFF_MS;
    while (!stop.aborted) {
      try {
        if (!(await this.roomForRecords(wait))) continue;
        if (role === "worker") {
          const claim = await this.client.claimTraining(wait, stop);
          if (claim) await runTrainingTask(context, claim, stop);
        } else {
          const claim = await this.client.claimAudit(wait, stop);
          const duty = claim && (await runAuditTask(context, claim, stop));
          if (duty && this.chain) this.revealLater(this.chain, duty);
        }
        backoff = FIRST_BACKOFF_MS;
      } catch (error) {
        if (stop.aborted) break;
        const gatewayDown = error instanceof NodeError && error.code === "GATEWAY_UNREACHABLE";
        log(
          `${gatewayDown ? "gateway unreachable" : "task failed"}: ${(error as Error).message}; retrying in ${backoff / 1000} s`,
        );
        await sleep(backoff, undefined, { signal: stop }).catch(() => undefined);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }
}
