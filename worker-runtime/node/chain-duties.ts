// A node's own duties on chain, signed with its own key: the worker's checkpoint commit, and the
// verifier's verdict (with its strided transcript, one leaf deliberately wrong when the audit is a
// forced error, and the proofs tying its opinion to that transcript)
// followed by the reveal of its forced-error secret once the challenge window is over
// (PROTOCOL.md §5.2-5.5). Each is safe to repeat after a restart: what the chain already
// recorded is recognised and not submitted again.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { NodeChainClient, TxRecord } from "../../chain-bridge/index.ts";
import {
  BridgeError,
  type ForcedErrorSecret,
  isForcedAudit,
  newForcedErrorSecret,
} from "../../chain-bridge/index.ts";
import { merkleInclusionProof, merkleRoot } from "../../protocol/merkle.ts";
import { sha256Hex } from "../../protocol/signed-messages.ts";
import { NodeError } from "./errors.ts";

const SECRET_FILE = "forced-error-secret.json";
const PENDING_REVEAL_FILE = "pending-reveal.json";
// Blocks come every second or so; looking twice as often finds a window soon after it opens.
const CHAIN_POLL_MS = 500;

export interface AuditDuty {
  chainTaskId: bigint;
  auditIndex: number;
}

interface StoredSecret extends ForcedErrorSecret {
  /** The secret that replaces this one at the reveal, written before the reveal is submitted. */
  next?: ForcedErrorSecret;
}

function confirmed(tx: TxRecord, what: string): void {
  if (tx.status === "failed") {
    throw new NodeError("CHAIN_REJECTED", `the chain refused the ${what}: ${tx.error ?? "no reason given"}`);
  }
}

export function saveForcedErrorSecret(dataDir: string, secret: StoredSecret): void {
  writeFileSync(join(dataDir, SECRET_FILE), `${JSON.stringify(secret)}\n`, { mode: 0o600 });
}

/**
 * The secret whose commitment the chain holds for this node. A reveal that reached the chain
 * before the node could record it left the chain on the `next` secret: that one is current then.
 */
async function currentSecret(chain: NodeChainClient, dataDir: string): Promise<ForcedErrorSecret> {
  const file = join(dataDir, SECRET_FILE);
  if (!existsSync(file)) {
    throw new NodeError(
      "CHAIN_REJECTED",
      `no forced-error secret in ${dataDir}; it is made when the node stakes`,
    );
  }
  const stored = JSON.parse(readFileSync(file, "utf8")) as StoredSecret;
  const node = await chain.node();
  if (stored.next && node?.commitment === stored.next.commitment) {
    saveForcedErrorSecret(dataDir, stored.next);
    return stored.next;
  }
  return { secret: stored.secret, commitment: stored.commitment };
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
): Promise<{ forced: boolean; agrees: boolean }> {
  const state = await chain.task(duty.chainTaskId);
  const audit = state?.audits[duty.auditIndex];
  if (!state || !audit || audit.verifier !== chain.address) {
    throw new NodeError(
      "CHAIN_REJECTED",
      `audit ${duty.auditIndex} of chain task ${duty.chainTaskId} is not this node's`,
    );
  }
  const { secret } = await currentSecret(chain, dataDir);
  const { forcedErrorPpm } = await chain.parameters();
  const forced =
    leaves.length >= 2 &&
    isForcedAudit(secret, state.seed!, duty.chainTaskId, duty.auditIndex, forcedErrorPpm);
  const endState = leaves.at(-1)!;
  const agrees = endState === committed.sha256;
  if (audit.verdict !== null) return { forced, agrees };
  const published = forced
    ? [
        sha256Hex(Buffer.concat([Buffer.from("forced-error"), Buffer.from(leaves[0]!, "hex")])),
        ...leaves.slice(1),
      ]
    : [...leaves];
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
  writeFileSync(
    join(dataDir, PENDING_REVEAL_FILE),
    JSON.stringify({ ...duty, chainTaskId: duty.chainTaskId.toString() }),
  );
  return { forced, agrees };
}

/**
 * Waits for the challenge window to close, then reveals the forced-error secret and commits to a
 * fresh one. Revealing earlier is refused by the chain (it would tell whistleblowers which verdicts
 * are safe to skip); not revealing by the end of the window is slashed.
 */
export async function revealWhenDue(
  chain: NodeChainClient,
  dataDir: string,
  duty: AuditDuty,
  stop: AbortSignal,
  log: (message: string) => void,
): Promise<void> {
  for (;;) {
    const state = await chain.task(duty.chainTaskId);
    const audit = state?.audits[duty.auditIndex];
    if (!state || !audit || audit.settled || audit.verifier !== chain.address) break;
    const head = await chain.head();
    if (head > state.revealEnd) {
      log(
        `the reveal window of chain task ${duty.chainTaskId} closed at block ${state.revealEnd} before the reveal`,
      );
      break;
    }
    if (head > state.challengeEnd) {
      const current = await currentSecret(chain, dataDir);
      const next = newForcedErrorSecret();
      saveForcedErrorSecret(dataDir, { ...current, next });
      try {
        confirmed(
          await chain.reveal({ ...duty, secret: current.secret, nextCommitment: next.commitment }),
          `reveal on audit ${duty.auditIndex} of chain task ${duty.chainTaskId}`,
        );
      } catch (error) {
        // A timing refusal (RevealTooEarly at a block boundary) is tried again at the next poll.
        if (!(error instanceof BridgeError) && !(error instanceof NodeError)) throw error;
        log(`reveal not accepted yet: ${(error as Error).message}`);
        await sleep(CHAIN_POLL_MS, undefined, { signal: stop }).catch(() => undefined);
        if (stop.aborted) return;
        continue;
      }
      saveForcedErrorSecret(dataDir, next);
      log(`revealed the forced-error secret for audit ${duty.auditIndex} of chain task ${duty.chainTaskId}`);
      break;
    }
    await sleep(CHAIN_POLL_MS, undefined, { signal: stop }).catch(() => undefined);
    if (stop.aborted) return;
  }
  rmSync(join(dataDir, PENDING_REVEAL_FILE), { force: true });
}

/** A reveal a previous run of the node left owing (it was stopped while waiting for the window). */
export function pendingReveal(dataDir: string): AuditDuty | null {
  const file = join(dataDir, PENDING_REVEAL_FILE);
  if (!existsSync(file)) return null;
  const stored = JSON.parse(readFileSync(file, "utf8")) as { chainTaskId: string; auditIndex: number };
  return { chainTaskId: BigInt(stored.chainTaskId), auditIndex: stored.auditIndex };
}
