// A verifier's handling of one leased audit: fetch both checkpoints by hash, check that each is
// in the worker's committed Merkle tree at its place, replay the segment between them with the
// training engine, and sign whether the replay lands bit-exactly on the worker's checkpoint.
// A start checkpoint the replay cannot start from is the worker's fault, answered with a
// disagreement; work of another determinism profile is not this node's to judge and is given back.

import { verifyMerkleInclusion } from "../../protocol/merkle.ts";
import type { AuditClaim, AuditTask, ProvenCheckpoint } from "../../protocol/node-wire.ts";
import { auditVerdictMessage, sha256Hex } from "../../protocol/signed-messages.ts";
import { TranscriptLayout } from "../../protocol/transcript.ts";
import { TrainError } from "../train/errors.ts";
import { type ReplayOptions, replaySegment, replayTranscript } from "../train/replay.ts";
import { measureCpu } from "../train/work-cpu.ts";
import { type AuditDuty, submitVerdict, transcriptStrideOf } from "./chain-duties.ts";
import { computeReport } from "./compute-meter.ts";
import { keepVerifierRecord } from "./dispute-records.ts";
import { NodeError } from "./errors.ts";
import type { GatewayClient } from "./gateway-client.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import { requireSameProfile } from "./profile-check.ts";
import { requireChain, type TaskContext } from "./training-task.ts";

const hex = (value: string) => Buffer.from(value, "hex");

/** Throws AUDIT_PROOF_INVALID unless `checkpoint` is its leaf of the audit's committed root. */
export function checkInclusion(audit: AuditTask, checkpoint: ProvenCheckpoint): void {
  const included = verifyMerkleInclusion({
    leaf: hex(checkpoint.sha256),
    index: checkpoint.leaf_index,
    treeSize: audit.tree_size,
    proof: checkpoint.proof.map(hex),
    root: hex(audit.checkpoint_root),
  });
  if (!included) {
    throw new NodeError(
      "AUDIT_PROOF_INVALID",
      `the checkpoint of step ${checkpoint.step} is not leaf ${checkpoint.leaf_index} of the committed root ${audit.checkpoint_root}`,
    );
  }
}

/** What a replay that could not start reports: no checkpoint's SHA-256 is 32 zero bytes. */
export const UNREPLAYABLE_STATE = "00".repeat(32);

/**
 * The end state of the replay and, for a verdict on chain, the leaves of its transcript strided by
 * `stride` (the segment's effective stride, PROTOCOL.md §5.4); null off chain.
 */
export async function replayForVerdict(
  segment: ReplayOptions,
  stride: number | null,
): Promise<{ sha256: string; leaves: string[] | null }> {
  try {
    if (stride === null) return { sha256: (await replaySegment(segment)).sha256, leaves: null };
    const { sha256, leaves } = await replayTranscript({ ...segment, stride });
    return { sha256, leaves };
  } catch (error) {
    // Undecodable bytes, a state that does not fit the model, or a checkpoint claiming another
    // step: the worker committed something no honest run produces, which is evidence against it.
    const bad =
      error instanceof TrainError &&
      (error.code === "INVALID_CHECKPOINT" || error.code === "CHECKPOINT_MISMATCH");
    if (!bad) throw error;
    const steps = segment.toStep - (segment.fromStep ?? 0);
    const count = stride === null ? 0 : Math.ceil(steps / stride);
    return {
      sha256: UNREPLAYABLE_STATE,
      leaves: stride === null ? null : Array.from({ length: count }, () => UNREPLAYABLE_STATE),
    };
  }
}

/**
 * The replay of an audited segment, run with the verifier's intra-op threads: the task's, as
 * requireSameProfile checked, since some GEMM shapes give other bits at other thread counts.
 */
export function auditedSegment(
  audit: Pick<AuditTask, "spec" | "dataset_file_name" | "from" | "to">,
  bytes: { model: Uint8Array; dataset: Uint8Array; from: Uint8Array },
  threads: number,
  signal?: AbortSignal,
): ReplayOptions {
  return {
    model: bytes.model,
    dataset: { bytes: bytes.dataset, fileName: audit.dataset_file_name },
    spec: audit.spec,
    from: bytes.from,
    fromStep: audit.from.step,
    toStep: audit.to.step,
    threads,
    ...(signal ? { signal } : {}),
  };
}

/**
 * The audited segment's inputs, its two checkpoints proved against the commitment first, as a
 * replay (auditedSegment): what a verifier and a whistleblower re-check alike.
 */
export async function fetchAuditedSegment(
  client: Pick<GatewayClient, "download">,
  audit: AuditTask,
  threads: number,
  signal?: AbortSignal,
): Promise<ReplayOptions> {
  checkInclusion(audit, audit.from);
  checkInclusion(audit, audit.to);
  const [model, dataset, from] = await Promise.all([
    client.download(audit.model_sha256),
    client.download(audit.dataset_sha256),
    client.download(audit.from.sha256),
  ]);
  return auditedSegment(audit, { model, dataset, from }, threads, signal);
}

/**
 * A lazy verifier's claim: the worker's end state after every step, which is what an agreeing
 * transcript must end with but is wrong at every leaf before the last.
 */
function lazyTranscript(
  audit: AuditTask,
  stride: number | null,
): { sha256: string; leaves: string[] | null } {
  const count = Math.ceil((audit.to.step - audit.from.step) / (stride ?? 1));
  return {
    sha256: audit.to.sha256,
    leaves: stride === null ? null : Array.from({ length: count }, () => audit.to.sha256),
  };
}

/**
 * A skimming verifier's claim: the true first leaf (it replayed that far, which is all a
 * whistleblower naming the first leaf would check) and the worker's end state for every leaf after.
 */
async function skimTranscript(
  segment: ReplayOptions,
  audit: AuditTask,
  stride: number | null,
): Promise<{ sha256: string; leaves: string[] | null }> {
  const lazy = lazyTranscript(audit, stride);
  if (stride === null || lazy.leaves!.length < 2) return lazy;
  const first = await replaySegment({ ...segment, toStep: audit.from.step + stride });
  return { ...lazy, leaves: [first.sha256, ...lazy.leaves!.slice(1)] };
}

/** A grieving verifier's claim: its honest replay with the end state changed, so that it can disagree. */
function griefTranscript(replay: { sha256: string; leaves: string[] | null }) {
  const sha256 = sha256Hex(Buffer.concat([Buffer.from("grief"), Buffer.from(replay.sha256, "hex")]));
  return { sha256, leaves: replay.leaves && [...replay.leaves.slice(0, -1), sha256] };
}

/**
 * Publishes the verdict's transcript leaves through the gateway, for whistleblowers to compare leaf
 * by leaf (PROTOCOL.md §5.6). The verdict is on chain already and stands without them, so a refusal
 * is logged, not thrown: a whistleblower then challenges from the root alone.
 */
async function publishTranscript(
  client: GatewayClient,
  duty: AuditDuty,
  leaves: readonly string[],
  log: (message: string) => void,
): Promise<void> {
  try {
    await client.publishTranscript(duty.chainTaskId, duty.auditIndex, leaves);
  } catch (error) {
    log(
      `audit ${duty.auditIndex} of chain task ${duty.chainTaskId}: transcript not published (${(error as Error).message})`,
    );
  }
}

/** Replays and answers one audit; returns its chain duty, whose reveal is owed after the challenge window. */
export async function runAuditTask(
  context: TaskContext,
  claim: AuditClaim,
  stop: AbortSignal,
): Promise<AuditDuty | null> {
  const { client, identity, log } = context;
  const { audit } = claim;
  const lease = claim.lease.id;
  const keeper = new LeaseKeeper(client, lease, claim.lease.heartbeat_interval_seconds, stop, log);
  try {
    requireSameProfile(audit);
    const segment = await fetchAuditedSegment(client, audit, context.threads, keeper.signal);
    const duty = audit.chain && {
      chainTaskId: BigInt(audit.chain.chain_task_id),
      auditIndex: audit.chain.audit_index,
    };
    // A verdict on chain carries the strided transcript; off chain the end state is enough.
    const stride =
      duty &&
      Number(
        new TranscriptLayout(
          BigInt(audit.from.step),
          BigInt(audit.to.step),
          BigInt(await transcriptStrideOf(requireChain(context), duty)),
        ).stride,
      );
    const fault = context.fault?.role === "verifier" ? context.fault : null;
    const { result: replay, cpuSeconds } = await measureCpu(async () => {
      if (fault?.verdict === "agrees-without-replay") return lazyTranscript(audit, stride);
      if (fault?.verdict === "invents-after-first-leaf") return skimTranscript(segment, audit, stride);
      return replayForVerdict(segment, stride);
    });
    // Whatever a verifier claims, its opinion follows from its transcript's end: the chain checks it.
    const claimed = fault?.verdict === "disagrees" ? griefTranscript(replay) : replay;
    const agrees = claimed.sha256 === audit.to.sha256;
    if (duty && claimed.leaves !== null) {
      const { forced, published } = await submitVerdict(
        requireChain(context),
        context.dataDir,
        duty,
        claimed.leaves,
        { sha256: audit.to.sha256, proof: audit.to.proof },
      );
      // Every verdict may be disputed: a disagreeing one by the worker's defence, any one by a
      // whistleblower's challenge of its transcript (PROTOCOL.md §5.7, §6); both are played from this.
      keepVerifierRecord(
        context.dataDir,
        duty.chainTaskId,
        { model: segment.model, dataset: segment.dataset, spec: audit.spec, threads: context.threads },
        { step: audit.from.step, bytes: segment.from, proof: audit.from.proof },
        published,
      );
      if (forced)
        log(
          `audit ${duty.auditIndex} of chain task ${duty.chainTaskId} is a forced error: transcript altered`,
        );
      await publishTranscript(client, duty, published, log);
    }
    const signature = identity.sign(auditVerdictMessage(audit, agrees));
    const compute = computeReport(cpuSeconds, audit.to.step - audit.from.step);
    await client.verdict(lease, agrees, signature, compute);
    log(
      `audit of task ${audit.task_id} steps ${audit.from.step}-${audit.to.step}: ${agrees ? "agrees" : `disagrees (replay reached ${claimed.sha256})`}`,
    );
    return duty;
  } catch (error) {
    if (keeper.lost) return null;
    const reason = stop.aborted ? "the node was stopped" : (error as Error).message;
    log(`audit of task ${audit.task_id}: giving it back (${reason})`);
    await client.fail(lease, reason).catch(() => undefined);
    if (!stop.aborted) throw error;
    return null;
  } finally {
    keeper.stop();
  }
}
