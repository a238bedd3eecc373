// A node's own duties on chain, signed with its own key: the worker's checkpoint commit, and the
// verifier's verdict (with its strided transcript, one leaf deliberately wrong when the audit is a
// forced error, and the proofs tying its opinion to that transcript)
// followed by the reveal of its forced-error secret once the challenge window is over
// (PROTOCOL.md §5.2-5.5). Each is safe to repeat after a restart: what the chain already
// recorded is recognised and not submitted again.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { NodeChainClient, TxRecord } from "../../chain-bridge/index.ts";
import { isForcedAudit, newForcedErrorSecret } from "../../chain-bridge/index.ts";
import { merkleInclusionProof, merkleRoot } from "../../protocol/merkle.ts";
import { sha256Hex } from "../../protocol/signed-messages.ts";
import { NodeError } from "./errors.ts";
import { forgetSecret, keepSecret, secretFor } from "./forced-error-secrets.ts";

const PENDING_REVEALS_FILE = "pending-reveals.json";
// Blocks come every second or so; looking twice as often finds a window soon after it opens.
const CHAIN_POLL_MS = 500;

export interface AuditDuty {
  chainTaskId: bigint;
  auditIndex: number;
}

/** Throws CHAIN_REJECTED when the chain refused `tx`. */
export function confirmed(tx: TxRecord, what: string): void {
  if (tx.status === "failed") {
    throw new NodeError("CHAIN_REJECTED", `the chain refused the ${what}: ${tx.error ?? "no reason given"}`);
  }
}

/** Commits the checkpoint root for the worker's assigned task, unless this very commit is on chain already. */
export async function commitCheckpoints(
  chain: NodeChainClient,
  duty: { chainTaskId: bigint },
  commit: { root: string; leaves: string[]; steps: number },
): Promise<void> {
  const state = await chain.task(duty.chainTaskId);
  const root = `0x${commit.root}`;
  if (state?.commitment?.root === root && state.worker === chain.address) return;
  confirmed(
    await chain.commit({
      chainTaskId: duty.chainTaskId,
      root,
      checkpoints: commit.leaves.length,
      steps: BigInt(commit.steps),
      result: `0x${commit.leaves.at(-1)!}`,
    }),
    `commit of chain task ${duty.chainTaskId}`,
  );
}

/** The transcript stride the chain recorded for the task's audit round (PROTOCOL.md §5.4). */
export async function transcriptStrideOf(chain: NodeChainClient, duty: AuditDuty): Promise<number> {
  const state = await chain.task(duty.chainTaskId);
  if (state?.status !== "Auditing" || state.transcriptStride < 1) {
    throw new NodeError(
      "CHAIN_REJECTED",
      `chain task ${duty.chainTaskId} has no audit round open (status ${state?.status ?? "unknown"})`,
    );
  }
  return state.transcriptStride;
}

/** The worker's committed leaf for the segment's end, with its inclusion proof in the commitment root. */
export interface CommittedLeaf {
  sha256: string;
  proof: string[];
}

const prefixed = (hex: string) => `0x${hex}`;

/**
 * Submits the verdict: the strided transcript `leaves` (its last one the replay's end state), its
 * root, and the proofs that tie `agrees` to it — the end state is the last leaf, `committed` is the
 * worker's leaf, and `agrees` is whether they are equal (the chain refuses anything else). In a
 * forced-error audit the first leaf is deliberately wrong and the end state stays the replay's:
 * forced errors test the whistleblowers, never the worker. A one-leaf transcript is never forced.
 */
export async function submitVerdict(
  chain: NodeChainClient,
  dataDir: string,
  duty: AuditDuty,
  leaves: readonly string[],
  committed: CommittedLeaf,
): Promise<{ forced: boolean; agrees: boolean; published: string[] }> {
  const state = await chain.task(duty.chainTaskId);
  const audit = state?.audits[duty.auditIndex];
  if (!state || !audit || audit.verifier !== chain.address) {
    throw new NodeError(
      "CHAIN_REJECTED",
      `audit ${duty.auditIndex} of chain task ${duty.chainTaskId} is not this node's`,
    );
  }
  const secret = secretFor(dataDir, audit.commitment);
  const { forcedErrorPpm } = await chain.parameters();
  const forced =
    leaves.length >= 2 &&
    isForcedAudit(secret, state.seed!, duty.chainTaskId, duty.auditIndex, forcedErrorPpm);
  const endState = leaves.at(-1)!;
  const agrees = endState === committed.sha256;
  const published = forced
    ? [
        sha256Hex(Buffer.concat([Buffer.from("forced-error"), Buffer.from(leaves[0]!, "hex")])),
        ...leaves.slice(1),
      ]
    : [...leaves];
  if (audit.verdict !== null) return { forced, agrees, published };
  const tree = published.map((leaf) => Buffer.from(leaf, "hex"));
  const hex = (node: Uint8Array) => prefixed(Buffer.from(node).toString("hex"));
  confirmed(
    await chain.submitVerdict({
      ...duty,
      agrees,
      transcript: hex(merkleRoot(tree)),
      endState: prefixed(endState),
      endStateProof: merkleInclusionProof(tree, tree.length - 1).map(hex),
      leaf: prefixed(committed.sha256),
      leafProof: committed.proof.map(prefixed),
    }),
    `verdict on audit ${duty.auditIndex} of chain task ${duty.chainTaskId}`,
  );
  storePendingReveals(dataDir, [...pendingReveals(dataDir), duty]);
  return { forced, agrees, published };
}

/**
 * Waits for the challenge window to close, then reveals the audit's forced-error secret and
 * commits to a fresh one. Revealing earlier is refused by the chain (it would tell whistleblowers which verdicts
 * are safe to skip); not revealing by the end of the window is slashed.
 */
export async function revealWhenDue(
  chain: NodeChainClient,
  dataDir: string,
  duty: AuditDuty,
  stop: AbortSignal,
  log: (message: string) => void,
): Promise<void> {
  const where = `audit ${duty.auditIndex} of chain task ${duty.chainTaskId}`;
  /** One look at the chain: whether the duty is over (revealed, settled, or its window gone). */
  const revealIfDue = async (): Promise<boolean> => {
    const state = await chain.task(duty.chainTaskId);
    const audit = state?.audits[duty.auditIndex];
    if (!state || !audit || audit.settled || audit.verifier !== chain.address) return true;
    const head = await chain.head();
    if (head > state.revealEnd) {
      log(
        `the reveal window of chain task ${duty.chainTaskId} closed at block ${state.revealEnd} before the reveal`,
      );
      return true;
    }
    if (head <= state.challengeEnd) return false;
    const secret = secretFor(dataDir, audit.commitment);
    const next = newForcedErrorSecret();
    keepSecret(dataDir, next);
    confirmed(await chain.reveal({ ...duty, secret, nextCommitment: next.commitment }), `reveal on ${where}`);
    forgetSecret(dataDir, audit.commitment);
    log(`revealed the forced-error secret for ${where}`);
    return true;
  };
  for (;;) {
    try {
      if (await revealIfDue()) break;
    } catch (error) {
      // A timing refusal (RevealTooEarly at a block boundary), or a chain node restarting or out
      // of reach for a moment: the secret stays on file and the next poll tries again, until the
      // reveal window closes. Giving up here would have the node slashed for a missed reveal.
      log(`reveal on ${where} not made yet: ${(error as Error).message}`);
    }
    await sleep(CHAIN_POLL_MS, undefined, { signal: stop }).catch(() => undefined);
    if (stop.aborted) return;
  }
  storePendingReveals(
    dataDir,
    pendingReveals(dataDir).filter(
      (owed) => owed.chainTaskId !== duty.chainTaskId || owed.auditIndex !== duty.auditIndex,
    ),
  );
}

function storePendingReveals(dataDir: string, owed: AuditDuty[]): void {
  const stored = owed.map((duty) => ({ ...duty, chainTaskId: duty.chainTaskId.toString() }));
  writeFileSync(join(dataDir, PENDING_REVEALS_FILE), JSON.stringify(stored));
}

/** Reveals owed after a verdict: those of audits still in their windows, and those a stopped run left. */
export function pendingReveals(dataDir: string): AuditDuty[] {
  const file = join(dataDir, PENDING_REVEALS_FILE);
  if (!existsSync(file)) return [];
  const stored = JSON.parse(readFileSync(file, "utf8")) as Array<{ chainTaskId: string; auditIndex: number }>;
  return stored.map((owed) => ({ chainTaskId: BigInt(owed.chainTaskId), auditIndex: owed.auditIndex }));
}
