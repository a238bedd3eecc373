// The fraud tests' shortened chain: 200 ms blocks, a worker has 30 s to commit, a verifier 15 s to
// replay its segment and a party of the pinpoint game 15 s for each turn (a turn may replay a
// stride window or trace a step; sized for two cores shared with other work), a job settles about
// 2 s after the verdict window, and a job stuck `verifying` fails after 30 s. Two segments per job, so the
// checkpoint a worker forges (its second) lies in every segment an audit can draw.
import type { FraudStackOptions } from "./fraud-stack.ts";

export const FRAUD_TEST_STACK: FraudStackOptions = {
  blockMs: 200,
  verifyingDeadlineMs: 30_000,
  windows: { commitBlocks: 150, verdictBlocks: 75, challengeBlocks: 3, revealBlocks: 10, roundBlocks: 75 },
};

/**
 * For a whistleblower's re-check: verdict and challenge windows that leave it time to replay a
 * 20-step segment on a loaded machine; a dispute's turns are short, so a silent defender times out soon.
 */
export const RECHECK_TEST_STACK: FraudStackOptions = {
  blockMs: 200,
  verifyingDeadlineMs: 120_000,
  windows: { commitBlocks: 150, verdictBlocks: 75, challengeBlocks: 75, revealBlocks: 25, roundBlocks: 25 },
};

export const FRAUD_TEST_SPEC = { max_steps: 40, checkpoint_every: 20 };

export const SCENARIO_TIMEOUT_MS = 180_000;
