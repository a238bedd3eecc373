// One fraud test file's suite: a stack of its own (test/support/fraud-stack.ts) with the honest
// nodes its rows need beside the faulty one, then one test per row of FRAUD_ROWS in the suite,
// each asserted by assertScenario. Files hold a few rows each so that they run side by side.
import { after, before, describe, it } from "node:test";
import { loadFixture } from "../../worker-runtime/train/fixtures.ts";
import { assertScenario } from "./fraud-assertions.ts";
import { FRAUD_ROWS, type FraudRow } from "./fraud-modes.ts";
import { runScenario } from "./fraud-scenario.ts";
import { FraudStack, type NodeProcess } from "./fraud-stack.ts";
import { FRAUD_TEST_SPEC, FRAUD_TEST_STACK, SCENARIO_TIMEOUT_MS } from "./fraud-test-settings.ts";

export function describeFraudSuite(suite: FraudRow["suite"], title: string): void {
  describe(title, () => {
    let stack: FraudStack;
    let standby: NodeProcess;
    let verifiers: NodeProcess[] = [];
    const { epochs: _epochs, ...baseSpec } = loadFixture("mlp").spec;
    const spec = { ...baseSpec, ...FRAUD_TEST_SPEC };
    const rows = FRAUD_ROWS.filter((row) => row.suite === suite);

    before(async () => {
      stack = await FraudStack.start(FRAUD_TEST_STACK);
      // A faulty verifier must be the only verifier the chain can draw; beside a faulty worker, two
      // honest ones audit, and after a faulty verifier's rejected challenge one audits again.
      const needsVerifiers = rows.some((row) => row.role === "worker" || row.takeover);
      [standby, ...verifiers] = await Promise.all([
        stack.startStandbyWorker(),
        ...(needsVerifiers
          ? [stack.startNode("verifier", "//Charlie"), stack.startNode("verifier", "//Dave")]
          : []),
      ]);
      // A cheat only a whistleblower can see is re-checked every time here: the test is of what
      // follows the challenge, not of the share (bench:fraud measures that).
      if (rows.some((row) => row.caughtBy === "whistleblower")) await stack.startWhistleblower("//Eve", 1, 1);
    });

    after(async () => {
      await stack?.stop();
    });

    for (const row of rows) {
      it(row.mode, async () => {
        if (row.role === "verifier")
          for (const verifier of verifiers) await stack.setEligible(verifier, false);
        assertScenario(
          await runScenario(stack, row, spec, SCENARIO_TIMEOUT_MS, standby, verifiers[0] ?? null),
          () => stack.logs(),
        );
      });
    }
  });
}
