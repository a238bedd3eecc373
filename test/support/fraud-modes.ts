// One row per fault mode (worker-runtime/node/faults.ts): how the platform catches it and where a
// job with it ends today. The fraud tests run each row and hold the outcome to it; bench:fraud
// runs each row N times and counts. A new mode is one more row.
import type { NodeRole } from "./fraud-stack.ts";

/**
 * How a cheat shows: a refused upload, a verdict disagreeing with the worker, a missed deadline,
 * a whistleblower's challenge that opened a transcript dispute against the row's verifier, or a
 * delivery challenge the referee ruled against the worker (chain/PROTOCOL.md §7).
 */
export type Detection =
  | "refused-upload"
  | "disagreeing-verdict"
  | "deadline"
  | "whistleblower"
  | "delivery-challenge";

export interface FraudRow {
  /** A mode of FAULTS, `honest`, or `absent` (a verifier staked on chain that never runs). */
  mode: string;
  role: NodeRole;
  /**
   * Which test file runs it (`test/slow/fraud-<suite>.e2e.test.ts`), a few rows each so files run
   * side by side.
   */
  suite: "evidence" | "forgery" | "operator" | "audit" | "disputes" | "verifier" | "liveness";
  /** How the cheat is caught; null when nothing catches it yet (docs/verification.md says why). */
  caughtBy: Detection | null;
  /**
   * Where the job ends: `succeeded` (with the honest weights) or `failed` at no charge. (No row
   * ends `disputed` since the platform drives disputes to their end; bench/fraud.ts still names it.)
   */
  ends: "succeeded" | "failed" | "disputed";
  /**
   * The faulty worker misses a deadline, or loses the commitment dispute a verifier opened, and
   * the chain re-assigns the task; with no other worker eligible it waits `Unassigned` (no
   * deadline: docs/verification.md) until the standby honest worker is bonded and takes it over
   * from the checkpoints the platform kept (after a lost dispute, none the cheat forged). For a
   * verifier row: its challenge is rejected, its audit fails, and a standby honest verifier is
   * bonded to audit the work again (for `lazy`: once a whistleblower's challenge made it lose its
   * audit; for `absent`: once its audits closed unanswered).
   */
  takeover: boolean;
  /**
   * Segments an audit can catch the fault in, out of `segments` (the forged checkpoint ends one
   * segment and starts the next); null when the evidence checks or a deadline catch it every time.
   */
  faked: ((segments: number) => number) | null;
  /** The scenario's node is paid: the honest one must be, a cheater never. */
  nodePaid: boolean;
}

const forgedCheckpoint = (segments: number) => Math.min(2, segments);

export const FRAUD_ROWS: readonly FraudRow[] = [
  {
    mode: "honest",
    role: "worker",
    suite: "audit",
    caughtBy: null,
    ends: "succeeded",
    takeover: false,
    faked: null,
    nodePaid: true,
  },
  {
    mode: "garbage-checkpoint",
    role: "worker",
    suite: "evidence",
    caughtBy: "refused-upload",
    ends: "succeeded",
    takeover: true,
    faked: null,
    nodePaid: false,
  },
  {
    mode: "perturb-weights",
    role: "worker",
    suite: "disputes",
    caughtBy: "disagreeing-verdict",
    ends: "succeeded",
    takeover: true,
    faked: forgedCheckpoint,
    nodePaid: false,
  },

  {
    mode: "swap-model",
    role: "worker",
    suite: "evidence",
    // The gateway refuses the model; the worker's signed claim to it is then ruled a false claim.
    caughtBy: "delivery-challenge",
    ends: "succeeded",
    takeover: true,
    faked: null,
    nodePaid: false,
  },
  {
    mode: "skip-steps",
    role: "worker",
    suite: "evidence",
    caughtBy: "disagreeing-verdict",
    ends: "succeeded",
    takeover: true,
    faked: forgedCheckpoint,
    nodePaid: false,
  },
  {
    mode: "replay-other-job",
    role: "worker",
    suite: "forgery",
    caughtBy: "refused-upload",
    ends: "succeeded",
    takeover: true,
    faked: null,
    nodePaid: false,
  },
  {
    mode: "subset-data",
    role: "worker",
    suite: "forgery",
    caughtBy: "disagreeing-verdict",
    ends: "succeeded",
    takeover: true,
    faked: forgedCheckpoint,
    nodePaid: false,
  },
  {
    mode: "swap-operator",
    role: "worker",
    suite: "operator",
    caughtBy: "disagreeing-verdict",
    ends: "succeeded",
    takeover: true,
    // Every step runs the swapped operator: every segment after step 0 is forged.
    faked: (segments) => segments,
    nodePaid: false,
  },
  {
    mode: "silent",
    role: "worker",
    suite: "liveness",
    caughtBy: "deadline",
    ends: "succeeded",
    takeover: true,
    faked: null,
    nodePaid: false,
  },
  {
    mode: "commit-and-vanish",
    role: "worker",
    suite: "liveness",
    caughtBy: "delivery-challenge",
    ends: "succeeded",
    takeover: true,
    faked: null,
    nodePaid: false,
  },
  {
    // Not a cheat: an honest worker that crashed after its commit. The delivery challenge finds its
    // checkpoints stored (ruled Delivered), the platform completes on its behalf, and it is paid.
    mode: "crash-after-commit",
    role: "worker",
    suite: "liveness",
    caughtBy: null,
    ends: "succeeded",
    takeover: false,
    faked: null,
    nodePaid: true,
  },
  {
    mode: "absent",
    role: "verifier",
    suite: "liveness",
    caughtBy: "deadline",
    ends: "succeeded",
    takeover: true,
    faked: null,
    nodePaid: false,
  },
  {
    mode: "lazy",
    role: "verifier",
    suite: "verifier",
    // Only a whistleblower re-checking its verdict can tell: it agrees, and ends on the worker's state.
    caughtBy: "whistleblower",
    ends: "succeeded",
    takeover: true,
    faked: null,
    nodePaid: false,
  },
  {
    mode: "grief",
    role: "verifier",
    suite: "verifier",
    caughtBy: "disagreeing-verdict",
    ends: "succeeded",
    takeover: true,
    faked: (segments) => segments,
    nodePaid: false,
  },
];
