// Each worker fault mode caught over HTTP and the chain (test/support/fraud-modes.ts): a faulty
// worker, the only one the chain can draw, beside two honest verifiers; a real job through the
// API. The honest row runs first: the same stack and assertions pass an honest worker.
import { after, before, describe, it } from "node:test";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";
import { assertScenario } from "./support/fraud-assertions.ts";
import { FRAUD_ROWS } from "./support/fraud-modes.ts";
import { runScenario } from "./support/fraud-scenario.ts";
import { FraudStack, type NodeProcess } from "./support/fraud-stack.ts";
import { FRAUD_TEST_SPEC, FRAUD_TEST_STACK, SCENARIO_TIMEOUT_MS } from "./support/fraud-test-settings.ts";

describe("a cheating worker is caught, unpaid, and costs the user nothing", () => {
  let stack: FraudStack;
  let standby: NodeProcess;
  const { epochs: _epochs, ...baseSpec } = loadFixture("mlp").spec;
  const spec = { ...baseSpec, ...FRAUD_TEST_SPEC };

  before(async () => {
    stack = await FraudStack.start(FRAUD_TEST_STACK);
    [standby] = await Promise.all([
      stack.startStandbyWorker(),
      stack.startNode("verifier", "//Charlie"),
      stack.startNode("verifier", "//Dave"),
    ]);
  });

  after(async () => {
    await stack?.stop();
  });

  for (const row of FRAUD_ROWS.filter((r) => r.suite === "worker")) {
    it(row.mode, async () => {
      assertScenario(await runScenario(stack, row, spec, SCENARIO_TIMEOUT_MS, standby), () => stack.logs());
    });
  }
});
