// The referee role (PROTOCOL.md §6.4), run by an operator holding the governance key: it watches
// for disputes at the referee's turn, reads the evidence the parties published for the node the
// game narrowed to, checks it against what the chain records as agreed, re-executes that one node
// (StepReferee), and submits `resolve_dispute` with the hash of the correct output through Sudo.
// It also rules delivery challenges (§7, delivery-referee.ts) with `rule_delivery`.
import { setTimeout as sleep } from "node:timers/promises";
import {
  agreedStateBefore,
  type DeliveryOutcome,
  type DisputeView,
  type NodeChainClient,
  readChallengedDeliveries,
  readOpenDisputes,
  resolveDispute,
  ruleDelivery,
  type TaskView,
} from "../../chain-bridge/index.ts";
import { verifyMerkleInclusion } from "../../protocol/merkle.ts";
import { checkpointSha256, decodeCheckpoint } from "../train/checkpoint.ts";
import { EvidenceError, type PinpointRun, StepReferee } from "../train/pinpoint.ts";
import { gamePositions } from "../train/pinpoint-graphs.ts";
import { type DeliverySource, judgeDelivery } from "./delivery-referee.ts";
import type { EvidenceSource, PublishedEvidence } from "./dispute-evidence.ts";

export interface RefereeOptions {
  /** A chain client signing with the governance (sudo) key. */
  chain: NodeChainClient;
  /** The governance key's secret URI: rulings are Root calls through Sudo. */
  sudoSeed: string;
  /** Where the parties' evidence is published (dispute-evidence.ts): the gateway, or directories. */
  evidence: readonly EvidenceSource[];
  /** The model, dataset and spec of a dispute's task, or null when the referee cannot get them. */
  runOf: (dispute: DisputeView, task: TaskView) => Promise<PinpointRun | null>;
  /** Where delivery challenges' checkpoints are read (PROTOCOL.md §7); without it they are not ruled. */
  deliveries?: DeliverySource;
  log: (message: string) => void;
  pollMs?: number;
}

export interface Ruling {
  disputeId: bigint;
  step: bigint;
  node: number;
  opType: string;
  name: string;
  /** The hash of the node's correct output, 0x hex. */
  output: string;
  /** Whether it equals the defender's claim: the defender wins if it does. */
  defenderWins: boolean;
}

export class Referee {
  constructor(private readonly options: RefereeOptions) {}

  async watchUntilStopped(stop: AbortSignal): Promise<void> {
    const { log, pollMs = 500 } = this.options;
    while (!stop.aborted) {
      try {
        await this.ruleOnce();
        await this.ruleDeliveries();
      } catch (error) {
        log(`ruling failed: ${(error as Error).message}`);
      }
      await sleep(pollMs, undefined, { signal: stop }).catch(() => undefined);
    }
  }

  /** Rules on every dispute at the referee's turn whose evidence is in; returns the rulings made. */
  async ruleOnce(): Promise<Ruling[]> {
    const { chain, log } = this.options;
    const rulings: Ruling[] = [];
    for (const dispute of await readOpenDisputes(chain.api)) {
      if (dispute.turn !== "Referee") continue;
      const task = await chain.task(dispute.chainTaskId);
      const run = task && (await this.options.runOf(dispute, task));
      if (!run) {
        log(`dispute ${dispute.disputeId}: the task's model, dataset and spec are not at hand`);
        continue;
      }
      const ruling = await this.decide(dispute, task, run);
      if (!ruling) continue;
      await resolveDispute(chain.api, this.options.sudoSeed, dispute.disputeId, ruling.output);
      log(
        `dispute ${dispute.disputeId}: node ${ruling.node} (${ruling.opType} ${ruling.name}) of step ${ruling.step} gives ${ruling.output}; the ${ruling.defenderWins ? "defender" : "challenger"} wins`,
      );
      rulings.push(ruling);
    }
    return rulings;
  }

  /** Rules every open delivery challenge whose answer is known; returns the outcomes submitted. */
  async ruleDeliveries(): Promise<Array<{ chainTaskId: bigint; outcome: DeliveryOutcome }>> {
    const { chain, deliveries, log } = this.options;
    if (!deliveries) return [];
    const ruled: Array<{ chainTaskId: bigint; outcome: DeliveryOutcome }> = [];
    const head = await chain.head();
    for (const task of await readChallengedDeliveries(chain.api)) {
      const { outcome, reason } = await judgeDelivery(task, head, deliveries);
      if (outcome === null) continue;
      await ruleDelivery(chain.api, this.options.sudoSeed, task.chainTaskId, outcome);
      log(`delivery of task ${task.chainTaskId} by ${task.worker}: ${outcome} (${reason})`);
      ruled.push({ chainTaskId: task.chainTaskId, outcome });
    }
    return ruled;
  }

  /**
   * The correct output of the narrowed node, from the first party's evidence that checks out; null
   * while no usable evidence is published. A bundle is used only if its checkpoint is the state the
   * chain records as agreed after step t − 1: the hash the challenger agreed to in phase 1 (read
   * from the game's events), or the committed leaf of the segment's start, which it must prove.
   */
  async decide(dispute: DisputeView, task: TaskView, run: PinpointRun): Promise<Ruling | null> {
    const { graphNodes } = task;
    const { log } = this.options;
    const parties = new Set([dispute.challenger, dispute.defender]);
    const published = await Promise.all(
      this.options.evidence.map((source) => source.bundles(dispute.disputeId)),
    );
    const bundles = published
      .flat()
      .filter(
        (b) =>
          parties.has(b.party) &&
          BigInt(b.evidence.step) === dispute.step &&
          b.evidence.node === Number(dispute.lo),
      );
    if (bundles.length === 0) return null;
    // The agreed state after step t − 1 as the chain records it: the hash the challenger agreed to
    // in phase 1, or (null) the segment's start, a committed leaf each bundle must prove.
    const agreedState = await agreedStateBefore(this.options.chain.api, dispute);
    const usable = bundles.filter((b) => {
      const held = stateOf(b);
      const proved =
        agreedState === null ? provesSegmentStart(b, held, dispute, task) : held === agreedState.slice(2);
      if (!proved)
        log(
          `dispute ${dispute.disputeId}: evidence of ${b.party} starts from a state the parties did not agree on`,
        );
      return proved;
    });
    if (usable.length === 0) return null;
    const referee = await StepReferee.open(run, usable[0]!.evidence.agreedCheckpoint);
    try {
      const actual = gamePositions(referee.stepGraph).length;
      if (actual !== graphNodes) {
        // Node N would be an operator here, or an operator the assembly: no ruling is sound.
        log(
          `dispute ${dispute.disputeId}: the task's graph_nodes is ${graphNodes}, its step graph has ${actual} positions; not ruling`,
        );
        return null;
      }
      const agreed = {
        step: dispute.step,
        node: Number(dispute.lo),
        cumulativeLo: dispute.cumulativeLo,
        agreedState: stateOf(usable[0]!),
      };
      for (const { party, evidence } of usable) {
        try {
          const output = `0x${await referee.output(evidence, agreed)}`;
          return {
            disputeId: dispute.disputeId,
            step: dispute.step,
            node: agreed.node,
            opType: evidence.opType,
            name: evidence.name,
            output,
            defenderWins: output === dispute.claim,
          };
        } catch (error) {
          if (!(error instanceof EvidenceError)) throw error;
          log(`dispute ${dispute.disputeId}: evidence of ${party} refused: ${error.message}`);
        }
      }
      return null;
    } finally {
      await referee.close();
    }
  }
}

/** Whether the bundle proves its checkpoint (SHA-256 `held`) is the committed leaf of the segment's start. */
function provesSegmentStart(
  bundle: PublishedEvidence,
  held: string,
  dispute: DisputeView,
  task: TaskView,
): boolean {
  const commitment = task.commitment;
  if (!commitment) return false;
  const bytes = (h: string) => Buffer.from(h.replace(/^0x/, ""), "hex");
  return verifyMerkleInclusion({
    leaf: bytes(held),
    index: task.audits[dispute.auditIndex]!.segment,
    treeSize: commitment.checkpoints,
    proof: bundle.segmentStartProof.map(bytes),
    root: bytes(commitment.root),
  });
}

const stateOf = (bundle: PublishedEvidence) =>
  checkpointSha256(decodeCheckpoint(bundle.evidence.agreedCheckpoint));
