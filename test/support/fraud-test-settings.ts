// The fraud tests' shortened chain: 200 ms blocks, a worker has 10 s to commit, a verifier 8 s to
// replay its segment, and a job settles about 2 s after the verdict window. Two segments per job,
// so the checkpoint a worker forges (its second) lies in every segment an audit can draw.
import type { FraudStackOptions } from "./fraud-stack.ts";

export const FRAUD_TEST_STACK: FraudStackOptions = {
  blockMs: 200,
  windows: { commitBlocks: 50, verdictBlocks: 40, challengeBlocks: 3, revealBlocks: 8 },
};

export const FRAUD_TEST_SPEC = { max_steps: 40, checkpoint_every: 20 };

export const SCENARIO_TIMEOUT_MS = 90_000;
