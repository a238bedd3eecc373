// Whistleblowers on the whole product: the dev chain, the API over HTTP and node daemons, with a
// whistleblower re-checking every verdict (`--recheck-share 1`) through the node gateway. An honest
// verdict re-checked is left alone; a forced error is caught and pays the jackpot at the reveal; a
// `lazy` verifier (it agrees without replaying) is challenged, bound by the leaves it published
// loses the transcript dispute at the referee, and is slashed.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  NodeChainClient,
  PLANCK_PER_VT,
  readBalance,
  readNode,
  setProtocolParameters,
  type TaskView,
} from "../chain-bridge/index.ts";
import { NodeDaemon } from "../worker-runtime/node/daemon.ts";
import { gatewayEvidence } from "../worker-runtime/node/dispute-evidence.ts";
import { recordedRun } from "../worker-runtime/node/dispute-records.ts";
import { GatewayClient } from "../worker-runtime/node/gateway-client.ts";
import { loadIdentity } from "../worker-runtime/node/identity.ts";
import { Referee } from "../worker-runtime/node/referee.ts";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";
import { fundJackpot, jackpotBalance } from "./support/chain-fixture.ts";
import { FraudStack, type NodeProcess } from "./support/fraud-stack.ts";
import { FRAUD_TEST_SPEC, RECHECK_TEST_STACK, SCENARIO_TIMEOUT_MS } from "./support/fraud-test-settings.ts";

const WHISTLEBLOWER_SEED = "//Dave";
const { epochs: _epochs, ...baseSpec } = loadFixture("mlp").spec;
const SPEC = { ...baseSpec, ...FRAUD_TEST_SPEC };

describe("whistleblowers re-check verdicts", { timeout: 15 * 60_000 }, () => {
  let stack: FraudStack;
  let verifier: NodeProcess;
  let whistleblower: NodeDaemon;
  let dataDir: string;
  const logs: string[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "veritrain-whistleblower-"));
    stack = await FraudStack.start(RECHECK_TEST_STACK);
    await stack.startNode("worker", "//Bob");
    verifier = await stack.startNode("verifier", "//Charlie");
    whistleblower = await NodeDaemon.start({
      role: "whistleblower",
      apiUrl: stack.api.url,
      chainUrl: stack.devnet.wsUrl,
      seed: WHISTLEBLOWER_SEED,
      dataDir,
      recheckShare: 1,
      log: (message) => logs.push(message),
    });
  });

  after(async () => {
    await whistleblower?.stop();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const failure = () => `whistleblower:\n${logs.join("\n")}\n${stack.logs()}`;

  /** Submits a job and waits until its task's audits all have verdicts and their challenge windows closed. */
  async function auditedTask(): Promise<{ jobId: string; task: TaskView }> {
    const job = await stack.submit(SPEC);
    const until = Date.now() + SCENARIO_TIMEOUT_MS;
    for (;;) {
      const task = await stack.chainTask(job.id);
      if (task && task.audits.length > 0 && task.audits.every((a) => a.verdict !== null)) {
        if ((await stack.head()) > task.challengeEnd)
          return { jobId: job.id, task: (await stack.chainTask(job.id))! };
      }
      assert.ok(Date.now() < until, `job ${job.id} was not audited in time\n${failure()}`);
      await sleep(500);
    }
  }

  it("leaves an honest verdict alone after re-checking it", async () => {
    const { jobId, task } = await auditedTask();
    for (const [index, audit] of task.audits.entries()) {
      assert.equal(audit.challenger, null, failure());
      const about = `audit ${index} of chain task ${task.chainTaskId}`;
      const until = Date.now() + 30_000;
      while (!logs.some((l) => l.includes(about)) && Date.now() < until) await sleep(250);
      assert.deepEqual(
        logs.filter((l) => l.includes(about)),
        [`re-checked ${about}: its transcript is the replay's`],
        failure(),
      );
    }
    await stack.settle(jobId, SCENARIO_TIMEOUT_MS);
    const job = await stack.call<{ status: string }>("GET", `/v1/training-jobs/${jobId}`);
    assert.equal(job.status, "succeeded", failure());
  });

  it("catches a forced error and is paid the jackpot at the reveal", async () => {
    // Every audit of two or more transcript leaves is forced; the pot holds more than one payout,
    // as task taxes and slashes fill it over many tasks.
    await setProtocolParameters(stack.devnet.wsUrl, "//Alice", { forcedErrorPpm: 1_000_000 });
    await fundJackpot(stack.chain, "//Ferdie", 1_000n * PLANCK_PER_VT);
    const me = whistleblower.identity.address;
    const potBefore = await jackpotBalance(stack.chain);
    const balanceBefore = await readBalance(stack.chain.api, me);
    try {
      const { jobId } = await auditedTask();
      await stack.settle(jobId, SCENARIO_TIMEOUT_MS);
      const task = (await stack.chainTask(jobId))!;
      assert.ok(task.audits.length > 0);
      for (const audit of task.audits) {
        assert.equal(audit.forced, true, failure());
        assert.equal(audit.challenger?.who, me, failure());
      }
      // The dev chain's jackpot_payout (PROTOCOL.md §2), well below the pot funded above.
      const jackpotPayout = 100n * PLANCK_PER_VT;
      const paid = potBefore + (task.payout?.jackpot ?? 0n) - (await jackpotBalance(stack.chain));
      assert.equal(paid, jackpotPayout * BigInt(task.audits.length), "one payout per forced error caught");
      const balanceAfter = await readBalance(stack.chain.api, me);
      // Its bonds are back and it gained the payouts, less the fees of its challenges.
      assert.equal(balanceAfter.reserved, balanceBefore.reserved, failure());
      assert.ok(balanceAfter.free > balanceBefore.free + (paid * 9n) / 10n, failure());
    } finally {
      await setProtocolParameters(stack.devnet.wsUrl, "//Alice", { forcedErrorPpm: 0 });
    }
  });

  it("catches a lazy verifier, which loses the transcript dispute and is slashed", async () => {
    await stack.setEligible(verifier, false);
    const lazy = await stack.startNode("verifier", "//Ferdie//lazy-whistleblower", "lazy");
    const me = whistleblower.identity.address;
    const bonded = (await readNode(stack.chain.api, lazy.address))!.bonded;
    // The referee, with the governance key (the API's operator key on the dev chain): the parties'
    // evidence through the gateway, the task's inputs from the whistleblower's record.
    const rulings: string[] = [];
    const refereeChain = await NodeChainClient.connect(stack.devnet.wsUrl, "//Alice");
    const referee = new Referee({
      chain: refereeChain,
      sudoSeed: "//Alice",
      evidence: [gatewayEvidence(new GatewayClient(stack.api.url, await loadIdentity("//Alice")))],
      runOf: async (dispute) => recordedRun(dataDir, dispute.chainTaskId),
      log: (message) => rulings.push(message),
    });
    const stopReferee = new AbortController();
    const refereeing = referee.watchUntilStopped(stopReferee.signal);
    try {
      const { task } = await auditedTask();
      assert.ok(task.audits.length > 0);
      for (const audit of task.audits) {
        assert.equal(audit.verifier, lazy.address);
        assert.equal(audit.challenger?.who, me, failure());
      }
      // The dispute opens at the lazy verifier's reveal. Its published leaves bind it: phase 1
      // narrows to the first leaf's step, where it claimed the worker's end state. There the
      // referee's recomputation rules against it: the game is played to the end, not won by a
      // missed turn.
      const firstLeaf = task.audits[0]!.segment * 20 + 10;
      const lost = () =>
        rulings.some((l) => /node \d+ \(.*\) of step \d+ gives 0x[0-9a-f]{64}; the challenger wins/.test(l));
      const until = Date.now() + SCENARIO_TIMEOUT_MS;
      while ((await readNode(stack.chain.api, lazy.address))!.bonded >= bonded || !lost()) {
        assert.ok(
          Date.now() < until,
          `the lazy verifier never lost and was never slashed\n${rulings.join("\n")}\n${failure()}`,
        );
        await sleep(500);
      }
      assert.ok(
        logs.some((l) => l.endsWith(`agreed at step ${firstLeaf - 1}`)),
        failure(),
      );
    } finally {
      stopReferee.abort();
      await refereeing;
      await refereeChain.close();
    }
  });
});
