// A node's side of the pinpoint game (PROTOCOL.md §6): for every open dispute it is a party to, it
// answers each of its turns before the deadline from its own record of the run — a worker defends
// its committed checkpoint, a verifier that said `agrees = false` plays its challenge, a
// whistleblower plays its challenge of a verdict's transcript and the verifier defends that
// transcript from the leaves it published — and claims the timeout when the other party misses its turn. Phase 1 bisects the
// steps of the segment with per-step state hashes from one replay of it (replayWindow); phase 2
// bisects the operators of the disputed step with the cumulative hashes of a traced step
// (traceStep). Once the game narrows to one node, the party publishes that node's evidence for the
// referee (dispute-evidence.ts).
import { setTimeout as sleep } from "node:timers/promises";
import {
  askedPosition,
  BridgeError,
  type DisputeView,
  type NodeChainClient,
  readDisputeWithTask,
  type TaskView,
  type TxRecord,
} from "../../chain-bridge/index.ts";
import { merkleInclusionProof } from "../../protocol/merkle.ts";
import { cumulativeChain } from "../../protocol/pinpoint.ts";
import { TranscriptLayout } from "../../protocol/transcript.ts";
import { type PinpointRun, type StepTrace, stepGraphOf, traceStep } from "../train/pinpoint.ts";
import { replaySegment, replayWindow } from "../train/replay.ts";
import type { EvidenceSink } from "./dispute-evidence.ts";
import { DisputeWork } from "./dispute-work.ts";
import { NodeError } from "./errors.ts";

/** What a party knows of the disputed run: enough to recompute any state of the segment. */
export interface DisputeRecord {
  /** The run this party computed, which its replays and traces repeat. */
  run: PinpointRun;
  /**
   * The task's run when `run` is another (a worker that trained a rewritten model): whatever it
   * computed, its phase-2 claims are at the positions of the task's step graph, the chain's
   * `graph_nodes` (PROTOCOL.md §6.3).
   */
  task?: PinpointRun;
  /** Canonical bytes of the checkpoint the disputed segment starts from (both parties checked it). */
  segmentStart: Uint8Array;
  /** A defending worker's committed checkpoint leaves (hex), in order: its claims are bound to them. */
  committedLeaves?: string[];
  /** A verifier's: the inclusion proof (hex) of the segment-start checkpoint in the committed root. */
  segmentStartProof?: string[];
  /** A verifier's published transcript leaves (hex): its claims in a transcript dispute are bound to them. */
  transcriptLeaves?: string[];
}

export interface DisputePlayerOptions {
  chain: NodeChainClient;
  /** This node's record of the run a dispute is about, or null when it holds none. */
  record: (dispute: DisputeView, task: TaskView) => Promise<DisputeRecord | null>;
  /** Where this node publishes evidence for the referee (the gateway, or a directory). */
  evidence: EvidenceSink;
  log: (message: string) => void;
  /** How often the chain is looked at (default 500 ms; blocks come about every second). */
  pollMs?: number;
  /**
   * The `grief` verifier's play (faults.ts): disagree at every turn, whatever its replay says. An
   * honest node never sets it.
   */
  alwaysDisagree?: boolean;
}

/**
 * One dispute's replayed states and traced step, computed once and reused every turn; the replays
 * and traces themselves go through the node's DisputeWork, shared with its other disputes over the
 * same segment and queued behind the one whose turn ends first.
 */
class DisputeMemory {
  private readonly traces = new Map<bigint, StepTrace>();
  published = false;
  /** The last block of the current turn: where this dispute's replays and traces queue. */
  deadline: number;

  constructor(
    readonly record: DisputeRecord,
    private readonly dispute: DisputeView,
    private readonly work: DisputeWork,
    /** The audited segment's index: its end state is committed leaf `segment + 1`. */
    private readonly segment: number,
    /** The task's graph_nodes on chain. */
    private readonly graphNodes: number,
    private readonly defending: boolean,
    /** A transcript dispute's layout (the task's stride); null in a commitment dispute. */
    private readonly layout: TranscriptLayout | null,
  ) {
    this.deadline = dispute.deadline;
  }

  /**
   * `compute` run once for every dispute of this node over the same segment of the same attempt:
   * a node keeps one record per task, so the segment, the attempt and `what` decide the result.
   */
  private shared<T>(what: string, compute: () => Promise<T>): Promise<T> {
    const { chainTaskId, attempt, segmentStart, segmentEnd, disputeId } = this.dispute;
    const key = `${chainTaskId}/${attempt}/${segmentStart}-${segmentEnd}/${what}`;
    return this.work.shared(key, disputeId, this.deadline, compute);
  }

  /**
   * The defender's claim at a step its transcript has a leaf for, with the leaf's inclusion proof
   * (hex, 0x) in the verdict's transcript; null at any other step or for any other party.
   */
  transcriptClaim(step: bigint): { hash: string; proof: string[] } | null {
    const leaves = this.record.transcriptLeaves;
    const index = this.layout?.leafOf(step) ?? null;
    if (!this.defending || !leaves || index === null) return null;
    const tree = leaves.map((leaf) => Buffer.from(leaf, "hex"));
    const proof = merkleInclusionProof(tree, index).map((node) => `0x${Buffer.from(node).toString("hex")}`);
    return { hash: `0x${leaves[index]!}`, proof };
  }

  /** The state hash after `step` by this party's record, 0x hex. */
  async stateAfter(step: bigint): Promise<string> {
    const { segmentStart, segmentEnd } = this.dispute;
    const leaves = this.record.committedLeaves;
    // A worker's claim at the segment's end is the leaf it committed, a verifier's at a transcript
    // leaf the leaf it published, whatever a replay gives.
    if (this.defending && leaves && step === segmentEnd) return `0x${leaves[this.segment + 1]!}`;
    const published = this.transcriptClaim(step);
    if (published) return published.hash;
    const stepHashes = await this.shared("steps", async () => {
      const from = Number(segmentStart);
      const to = Number(segmentEnd);
      const window = await replayWindow({
        ...this.record.run,
        from: this.record.segmentStart,
        fromStep: from,
        toStep: to,
        stride: to - from,
        window: 1,
      });
      return new Map(window.stepHashes.map((hash, i) => [BigInt(window.first + i), hash]));
    });
    return `0x${stepHashes.get(step)!}`;
  }

  /** The inclusion proof (hex) of the segment-start checkpoint as leaf `segment` of the commitment. */
  segmentStartProof(): string[] {
    const leaves = this.record.committedLeaves;
    if (!leaves) return this.record.segmentStartProof ?? [];
    const tree = leaves.map((leaf) => Buffer.from(leaf, "hex"));
    return merkleInclusionProof(tree, this.segment).map((node) => Buffer.from(node).toString("hex"));
  }

  /** Canonical bytes of the state after `step` by this party's replay. */
  async checkpointAt(step: bigint): Promise<Uint8Array> {
    if (step === this.dispute.segmentStart) return this.record.segmentStart;
    return this.shared(
      `state/${step}`,
      async () =>
        (
          await replaySegment({
            ...this.record.run,
            from: this.record.segmentStart,
            fromStep: Number(this.dispute.segmentStart),
            toStep: Number(step),
          })
        ).bytes,
    );
  }

  /** Step t traced from the agreed state after t − 1, with this party's o_N (its claim, when it defends). */
  async trace(step: bigint, evidenceOf: readonly number[] = []): Promise<StepTrace> {
    const known = this.traces.get(step);
    if (known && evidenceOf.length === 0) return known;
    const { run, task } = this.record;
    const from = await this.checkpointAt(step - 1n);
    const traced = await this.shared(`trace/${step}/${evidenceOf.join(",")}`, async () =>
      traceStep({
        ...run,
        from,
        evidenceOf,
        ...(task ? { taskStepGraph: await stepGraphOf(task, Number(step)) } : {}),
      }),
    );
    if (traced.graphNodes !== this.graphNodes) {
      // Phase 2's positions and node N would mean other nodes than the graph's: no answer is sound.
      throw new NodeError(
        "GRAPH_MISMATCH",
        `the task's graph_nodes is ${this.graphNodes} but step ${step}'s graph has ${traced.graphNodes} nodes`,
      );
    }
    const claimed = (await this.stateAfter(step)).slice(2);
    const outputs = [...traced.outputs.slice(0, -1), claimed];
    const mine = { ...traced, outputs, cumulative: cumulativeChain(step, outputs) };
    this.traces.set(step, mine);
    return mine;
  }
}

/**
 * Plays every dispute the node is party to until stopped, each on its own: a dispute's turn runs
 * while another's waits for its replay or its extrinsic, so a node party to several disputes misses
 * none of their deadlines because of the others. One turn per dispute at a time; a failing dispute
 * holds up no other.
 */
export class DisputePlayer {
  private readonly memories = new Map<bigint, DisputeMemory>();
  /** The turn each dispute is taking now: a later look starts none for it until it ends. */
  private readonly running = new Map<bigint, Promise<void>>();
  private readonly work = new DisputeWork();

  constructor(private readonly options: DisputePlayerOptions) {}

  async playUntilStopped(stop: AbortSignal): Promise<void> {
    const { log, pollMs = 500 } = this.options;
    // A failure that repeats at every look (a task it cannot play) is reported once per dispute,
    // not twice a second.
    const reported = new Map<string, string>();
    const report = (about: string, error: unknown) => {
      const message = `${about}: ${(error as Error).message}`;
      if (reported.get(about) !== message) log(message);
      reported.set(about, message);
    };
    while (!stop.aborted) {
      try {
        for (const { disputeId, turn } of await this.startTurns()) {
          const about = `dispute ${disputeId} turn failed`;
          turn.then(
            () => reported.delete(about),
            (error: unknown) => report(about, error),
          );
        }
        reported.delete("dispute look failed");
      } catch (error) {
        report("dispute look failed", error);
      }
      await sleep(pollMs, undefined, { signal: stop }).catch(() => undefined);
    }
    // A turn under way is finished: its answer may be what keeps the node's stake.
    await Promise.allSettled(this.running.values());
  }

  /**
   * Looks at every open dispute of this node once, taking every turn that is due, and resolves once
   * those turns are over; rejects with the first failure, after the other disputes' turns ended.
   */
  async playOnce(): Promise<void> {
    const started = await this.startTurns();
    const failed = (await Promise.allSettled(started.map((s) => s.turn))).find(
      (outcome) => outcome.status === "rejected",
    );
    if (failed) throw failed.reason;
  }

  /** Starts a turn for every open dispute of this node that has none under way; forgets closed ones. */
  private async startTurns(): Promise<Array<{ disputeId: bigint; turn: Promise<void> }>> {
    const { chain } = this.options;
    const open = await chain.myDisputes();
    const started = [];
    for (const { disputeId } of open) {
      if (this.running.has(disputeId)) continue;
      const turn = this.play(disputeId).finally(() => this.running.delete(disputeId));
      this.running.set(disputeId, turn);
      started.push({ disputeId, turn });
    }
    const stillOpen = new Set(open.map((d) => d.disputeId));
    for (const id of this.memories.keys()) {
      if (stillOpen.has(id) || this.running.has(id)) continue;
      this.memories.delete(id);
      this.work.release(id);
    }
    return started;
  }

  /** One turn of one dispute, from its current state on chain. */
  private async play(disputeId: bigint): Promise<void> {
    const current = await readDisputeWithTask(this.options.chain.api, disputeId);
    if (current) await this.turn(current.dispute, current.task);
  }

  private async memoryOf(dispute: DisputeView, task: TaskView): Promise<DisputeMemory | null> {
    const known = this.memories.get(dispute.disputeId);
    if (known) {
      known.deadline = dispute.deadline;
      return known;
    }
    const record = await this.options.record(dispute, task);
    if (!record) return null;
    const segment = task.audits[dispute.auditIndex]!.segment;
    const defending = dispute.defender === this.options.chain.address;
    const layout =
      dispute.kind === "Transcript"
        ? new TranscriptLayout(dispute.segmentStart, dispute.segmentEnd, BigInt(task.transcriptStride))
        : null;
    const memory = new DisputeMemory(record, dispute, this.work, segment, task.graphNodes, defending, layout);
    this.memories.set(dispute.disputeId, memory);
    return memory;
  }

  private async turn(dispute: DisputeView, task: TaskView): Promise<void> {
    const { chain, log } = this.options;
    const id = dispute.disputeId;
    const defending = dispute.defender === chain.address;
    const mine = dispute.turn === (defending ? "Defender" : "Challenger");
    if (!mine) {
      if (dispute.turn !== "Referee" && (await chain.head()) > dispute.deadline) {
        log(`dispute ${id}: the ${dispute.turn.toLowerCase()} missed its turn; claiming the timeout`);
        await this.submit(chain.claimTimeout(id), "TooEarly");
      }
      if (dispute.phase === "Referee") await this.publish(dispute, task);
      return;
    }
    const memory = await this.memoryOf(dispute, task);
    if (!memory)
      throw new NodeError("NO_DISPUTE_RECORD", `dispute ${id}: no record of chain task ${task.chainTaskId}`);
    const position = askedPosition(dispute, task);
    if (defending && dispute.kind === "Transcript" && !memory.record.transcriptLeaves) {
      throw new NodeError("NO_DISPUTE_RECORD", `dispute ${id}: no record of the transcript it defends`);
    }
    // A transcript's claims at its leaves carry their proofs (the opening, and phase 1 while leaves
    // lie between lo and hi); inside a stride window they are bare state hashes.
    const leafClaim =
      dispute.phase === "Opening" || dispute.phase === "Steps" ? memory.transcriptClaim(position) : null;
    if (defending && leafClaim) {
      await this.submit(chain.respond(id, leafClaim.hash, leafClaim.proof));
      log(`dispute ${id}: answered at step ${position} with its transcript leaf`);
      return;
    }
    if (defending) {
      if (dispute.phase === "Opening") {
        const leaves = memory.record.committedLeaves;
        if (!leaves)
          throw new NodeError("NO_DISPUTE_RECORD", `dispute ${id}: no committed leaves to prove the claim`);
        const index = task.audits[dispute.auditIndex]!.segment + 1;
        const proof = merkleInclusionProof(
          leaves.map((leaf) => Buffer.from(leaf, "hex")),
          index,
        );
        const hex = (node: Uint8Array) => `0x${Buffer.from(node).toString("hex")}`;
        await this.submit(chain.respond(id, `0x${leaves[index]!}`, proof.map(hex)));
      } else if (dispute.phase === "Steps") {
        await this.submit(chain.respond(id, await memory.stateAfter(position)));
      } else if (dispute.phase === "Operators") {
        const trace = await memory.trace(dispute.step);
        await this.submit(chain.respond(id, trace.cumulative[Number(position)]!));
      } else {
        const trace = await memory.trace(dispute.step);
        await this.publish(dispute, task);
        await this.submit(chain.respond(id, `0x${trace.outputs[Number(position)]!}`));
      }
      log(`dispute ${id}: answered at ${dispute.phase === "Operators" ? "node count" : "step"} ${position}`);
      return;
    }
    const mid =
      dispute.phase === "Steps"
        ? await memory.stateAfter(position)
        : (await memory.trace(dispute.step)).cumulative[Number(position)]!;
    const agree = !this.options.alwaysDisagree && mid === dispute.pending;
    await this.submit(chain.bisect(id, agree));
    log(
      `dispute ${id}: ${agree ? "agreed" : "disagreed"} at ${dispute.phase === "Steps" ? "step" : "node count"} ${position}`,
    );
  }

  /** Publishes the narrowed node's evidence for the referee, once per dispute. */
  private async publish(dispute: DisputeView, task: TaskView): Promise<void> {
    const memory = await this.memoryOf(dispute, task);
    if (!memory || memory.published) return;
    const node = Number(dispute.lo);
    const trace = await memory.trace(dispute.step, [node]);
    const sha256 = await this.options.evidence.publish({
      disputeId: dispute.disputeId,
      party: this.options.chain.address,
      evidence: trace.evidence[0]!,
      segmentStartProof: memory.segmentStartProof(),
    });
    memory.published = true;
    this.options.log(
      `dispute ${dispute.disputeId}: published the inputs of node ${node} (${trace.evidence[0]!.opType}) of step ${dispute.step}, sha256 ${sha256}`,
    );
  }

  /** A refusal for timing (a turn that just changed hands) is left for the next look. */
  private async submit(tx: Promise<TxRecord>, ...benign: string[]): Promise<void> {
    try {
      const record = await tx;
      if (record.status === "failed") throw new NodeError("CHAIN_REJECTED", record.error ?? "refused");
    } catch (error) {
      const name = error instanceof BridgeError ? error.module?.name : undefined;
      if (name && ["NotYourTurn", "UnknownDispute", ...benign].includes(name)) return;
      throw error;
    }
  }
}
