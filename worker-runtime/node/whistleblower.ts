// The whistleblower role (PROTOCOL.md §5.6): it watches the verdicts the chain accepts
// (VerdictSubmitted), re-checks a share of them by replaying the audited segment itself with the
// strided transcript, and challenges a verdict whose transcript root differs from its own before
// the challenge window closes, naming the first leaf that differs from the leaves its verifier
// published through the gateway (a guess from the root alone when it published none). A forced
// error it catches pays it the jackpot at the verifier's reveal; a wrong verdict that was not forced
// opens a transcript dispute, which the node's dispute player then plays as the challenger from the
// record kept here (dispute-records.ts).
//
// Which verdicts: a draw keyed by a secret derived from the node's own seed, so the choice is
// reproducible for the node (a restart re-checks the same verdicts) yet unpredictable to the
// verifiers, who must not know which of their verdicts go unchecked.
import { createHash, createHmac } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { NodeChainClient, TaskView, VerdictEvent } from "../../chain-bridge/index.ts";
import { merkleRoot } from "../../protocol/merkle.ts";
import { TranscriptLayout } from "../../protocol/transcript.ts";
import { fetchAuditedSegment, replayForVerdict } from "./audit-task.ts";
import { confirmed } from "./chain-duties.ts";
import { keepVerifierRecord, roomForRecords } from "./dispute-records.ts";
import { NodeError } from "./errors.ts";
import type { GatewayClient } from "./gateway-client.ts";

/** The share of verdicts a whistleblower re-checks unless told otherwise. */
export const DEFAULT_RECHECK_SHARE = 0.5;

export interface WhistleblowerOptions {
  chain: NodeChainClient;
  client: GatewayClient;
  /** The node's secret URI: the key of its re-check draw. */
  seed: string;
  dataDir: string;
  /** The share of verdicts re-checked, in [0, 1]. */
  recheckShare: number;
  threads: number;
  /** The most its dispute records may hold: beyond it, it challenges nothing (dispute-records.ts). */
  recordsLimitBytes: number;
  log: (message: string) => void;
  pollMs?: number;
}

export type RecheckOutcome = "skipped" | "honest" | "challenged" | "unavailable";

export interface Recheck {
  chainTaskId: bigint;
  auditIndex: number;
  outcome: RecheckOutcome;
  /** The step challenged as the first wrong leaf, when challenged. */
  firstWrongStep?: bigint;
}

/** Whether a node drawing with `key` re-checks this audit: HMAC-SHA256 of the audit, as a fraction. */
export function picksForRecheck(
  key: Buffer,
  chainTaskId: bigint,
  auditIndex: number,
  share: number,
): boolean {
  const draw = createHmac("sha256", key).update(`${chainTaskId}/${auditIndex}`).digest().readUInt32BE(0);
  return draw / 2 ** 32 < share;
}

export function checkRecheckShare(share: number): number {
  if (!Number.isFinite(share) || share < 0 || share > 1) {
    throw new NodeError("INVALID_RECHECK_SHARE", `--recheck-share takes a number from 0 to 1, got ${share}`);
  }
  return share;
}

/**
 * The step to name as the first wrong leaf of a verdict's transcript whose root differs from the
 * replay's. With the verifier's published leaves (`published`, checked against the root on chain)
 * it is the step of the first leaf that differs from the replay's: the dispute then opens on the
 * stride the verifier got wrong, whichever it is. Without them only the root and the end state are
 * known: a wrong end state is a wrong leaf; otherwise the leaf before the end is drawn with the
 * whistleblower's secret `key`, which a verifier cannot predict. A verifier that replayed only a
 * prefix and invented the rest is then caught as often as the share of middle leaves it invented
 * (always, when it replayed nothing), and cannot pick the one leaf to compute to escape it.
 */
export function firstWrongStep(
  layout: TranscriptLayout,
  replayed: readonly string[],
  verdict: { endState: string; published: readonly string[] | null },
  draw: { key: Buffer; chainTaskId: bigint; auditIndex: number },
): bigint {
  if (verdict.published) {
    const index = verdict.published.findIndex((leaf, i) => leaf !== replayed[i]);
    if (index >= 0) return layout.stepOf(index);
  }
  if (verdict.endState.replace(/^0x/, "") !== replayed.at(-1) || layout.leaves < 2) return layout.end;
  const pick = createHmac("sha256", draw.key)
    .update(`vt/first-wrong-leaf/${draw.chainTaskId}/${draw.auditIndex}`)
    .digest()
    .readUInt32BE(0);
  return layout.stepOf(pick % (layout.leaves - 1));
}

/** The published leaves when they are the verdict's (n leaves with its root on chain), else null. */
export function verdictLeaves(
  layout: TranscriptLayout,
  root: string,
  published: readonly string[] | null,
): string[] | null {
  if (!published || published.length !== layout.leaves) return null;
  const ours = `0x${Buffer.from(merkleRoot(published.map((leaf) => Buffer.from(leaf, "hex")))).toString("hex")}`;
  return ours === root ? [...published] : null;
}

export class Whistleblower {
  private readonly key: Buffer;
  /** The last block whose verdicts were looked at. */
  private cursor: number | null = null;

  constructor(private readonly options: WhistleblowerOptions) {
    checkRecheckShare(options.recheckShare);
    this.key = createHash("sha256").update(`vt/recheck\n${options.seed}`).digest();
  }

  async watchUntilStopped(stop: AbortSignal): Promise<void> {
    const { log, pollMs = 1_000 } = this.options;
    let reported = "";
    while (!stop.aborted) {
      try {
        await this.checkOnce();
        reported = "";
      } catch (error) {
        const message = `re-checking verdicts failed: ${(error as Error).message}`;
        if (message !== reported) log(message);
        reported = message;
      }
      await sleep(pollMs, undefined, { signal: stop }).catch(() => undefined);
    }
  }

  /**
   * Looks at the verdicts submitted since the last look (at the start: as far back as a challenge
   * window can still be open) and re-checks those it draws; returns what it did with each.
   */
  async checkOnce(): Promise<Recheck[]> {
    const { chain } = this.options;
    const head = await chain.head();
    if (this.cursor === null) {
      const { verdictBlocks, challengeBlocks } = await chain.parameters();
      this.cursor = head - verdictBlocks - challengeBlocks - 1;
    }
    const verdicts = await chain.verdictsSubmitted(this.cursor + 1, head);
    const done: Recheck[] = [];
    for (const verdict of verdicts) done.push(await this.recheck(verdict));
    this.cursor = head;
    return done;
  }

  private async recheck(verdict: VerdictEvent): Promise<Recheck> {
    const { chain, client, log } = this.options;
    const { chainTaskId, auditIndex } = verdict;
    const where = `audit ${auditIndex} of chain task ${chainTaskId}`;
    const result = (outcome: RecheckOutcome, step?: bigint): Recheck => ({
      chainTaskId,
      auditIndex,
      outcome,
      ...(step === undefined ? {} : { firstWrongStep: step }),
    });
    if (!picksForRecheck(this.key, chainTaskId, auditIndex, this.options.recheckShare))
      return result("skipped");
    const task = await chain.task(chainTaskId);
    const unavailable = (await this.unavailable(task, verdict)) ?? (await this.recordsFull());
    if (unavailable) {
      log(`not re-checking ${where}: ${unavailable}`);
      return result("unavailable");
    }
    const audit = await client.auditedSegment(chainTaskId, auditIndex);
    const segment = await fetchAuditedSegment(client, audit, this.options.threads);
    const layout = new TranscriptLayout(
      BigInt(audit.from.step),
      BigInt(audit.to.step),
      BigInt(task!.transcriptStride),
    );
    const replay = await replayForVerdict(segment, Number(layout.stride));
    const root = `0x${Buffer.from(merkleRoot(replay.leaves!.map((leaf) => Buffer.from(leaf, "hex")))).toString("hex")}`;
    if (root === verdict.transcript) {
      log(`re-checked ${where}: its transcript is the replay's`);
      return result("honest");
    }
    const published = verdictLeaves(layout, verdict.transcript, await this.publishedLeaves(verdict));
    if (!published) log(`the verifier of ${where} published no transcript leaves matching its root`);
    const step = firstWrongStep(
      layout,
      replay.leaves!,
      { endState: verdict.endState, published },
      { key: this.key, chainTaskId, auditIndex },
    );
    // Kept before the challenge: a transcript dispute may open at the reveal, and is played from it.
    keepVerifierRecord(
      this.options.dataDir,
      chainTaskId,
      { model: segment.model, dataset: segment.dataset, spec: segment.spec, threads: this.options.threads },
      { step: audit.from.step, bytes: segment.from, proof: audit.from.proof },
    );
    confirmed(
      await chain.challenge({ chainTaskId, auditIndex, firstWrongStep: step }),
      `challenge of ${where}`,
    );
    log(`re-checked ${where}: its transcript differs from the replay's; challenged at step ${step}`);
    return result("challenged", step);
  }

  /**
   * The leaves the verdict's verifier published through the gateway; null when it has not (yet), or
   * when the gateway cannot say: the challenge window does not wait for the gateway, and a
   * challenge under the unpublished-transcript rule still catches the verdict, only less precisely.
   */
  private async publishedLeaves(verdict: VerdictEvent): Promise<string[] | null> {
    try {
      return (await this.options.client.transcriptOf(verdict.chainTaskId, verdict.auditIndex)).leaves;
    } catch (error) {
      if (!(error instanceof NodeError && error.apiCode === "transcript_not_published")) {
        this.options.log(
          `could not read the published transcript of audit ${verdict.auditIndex} of chain task ${verdict.chainTaskId}: ${(error as Error).message}`,
        );
      }
      return null;
    }
  }

  /** Why no record of another challenge can be kept now; null when it can. */
  private async recordsFull(): Promise<string | null> {
    const { dataDir, chain, recordsLimitBytes } = this.options;
    const { room, bytes } = await roomForRecords(dataDir, chain, recordsLimitBytes);
    return room ? null : `its dispute records hold ${bytes} bytes, the limit is ${recordsLimitBytes}`;
  }

  /** Why the verdict is not open to this node's challenge or not replayable in its profile; null when it is. */
  private async unavailable(task: TaskView | null, verdict: VerdictEvent): Promise<string | null> {
    const { chain } = this.options;
    const audit = task?.audits[verdict.auditIndex];
    if (!task || !audit?.verdict) return "no such verdict on chain";
    if (audit.challenger !== null) return `already challenged by ${audit.challenger.who}`;
    if (task.worker === chain.address || audit.verifier === chain.address)
      return "it is this node's own work";
    if (task.status !== "Auditing" || (await chain.head()) > task.challengeEnd) {
      return "its challenge window is over";
    }
    const own = (await chain.node())?.profile;
    if (task.profile !== null && task.profile !== own) {
      return `the task's determinism profile ${task.profile} is not this node's (${own})`;
    }
    return null;
  }
}
