// Liveness over the real stack (docs/verification.md, Liveness): a worker that claims and never
// delivers, one that commits and never completes, and a verifier that misses every audit. Each
// job ends where the table says, its escrow paid out or returned, and the user pays only for
// honest work. The verifying deadline is shortened through the API's configuration.
import { after, before, describe, it } from "node:test";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";
import { assertScenario } from "./support/fraud-assertions.ts";
import { FRAUD_ROWS } from "./support/fraud-modes.ts";
import { runScenario } from "./support/fraud-scenario.ts";
import { FraudStack, type NodeProcess } from "./support/fraud-stack.ts";
import { FRAUD_TEST_SPEC, FRAUD_TEST_STACK, SCENARIO_TIMEOUT_MS } from "./support/fraud-test-settings.ts";

describe("every state a job can be in has a deadline", () => {
  let stack: FraudStack;
  let verifiers: NodeProcess[] = [];
  let standby: NodeProcess;
  const { epochs: _epochs, ...baseSpec } = loadFixture("mlp").spec;
  const spec = { ...baseSpec, ...FRAUD_TEST_SPEC };
  const rows = FRAUD_ROWS.filter((r) => r.suite === "liveness");

  before(async () => {
    stack = await FraudStack.start({ ...FRAUD_TEST_STACK, verifyingDeadlineMs: 30_000 });
    [standby, ...verifiers] = await Promise.all([
      stack.startStandbyWorker(),
      stack.startNode("verifier", "//Charlie"),
      stack.startNode("verifier", "//Dave"),
    ]);
  });

  after(async () => {
    await stack?.stop();
  });

  for (const row of rows.filter((r) => r.role === "worker")) {
    it(`${row.mode}: an honest worker takes the task over`, async () => {
      assertScenario(await runScenario(stack, row, spec, SCENARIO_TIMEOUT_MS, standby), () => stack.logs());
    });
  }

  for (const row of rows.filter((r) => r.role === "verifier")) {
    it(`${row.mode}: every audit missed, the job fails at no charge and the escrow returns`, async () => {
      // The missing verifier must be the only one the chain can draw; the standby worker trains.
      for (const verifier of verifiers) await stack.retire(verifier);
      verifiers = [];
      assertScenario(await runScenario(stack, row, spec, SCENARIO_TIMEOUT_MS, standby), () => stack.logs());
    });
  }
});
