// A verifier that invents the middle of its transcript, against a whistleblower, on the whole
// product (dev chain, API over HTTP, node daemons and the referee as processes). The `skim` verifier
// replays its segment only up to the transcript's first leaf and claims the worker's end state for
// every later leaf: its end state is right (the worker is honest), its first leaf is right, and the
// leaves between are invented. A whistleblower that sees only the verdict's root on chain cannot tell
// which leaf is wrong; naming the first leaf, it would challenge a true leaf and lose its bond to the
// cheat. With the verifier's leaves published through the gateway it names the first invented one,
// the game narrows to that stride, and the verifier loses and is slashed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readBalance, readNode, setProtocolParameters, type TaskView } from "../chain-bridge/index.ts";
import { TranscriptLayout } from "../protocol/transcript.ts";
import { loadFixture } from "../worker-runtime/train/fixtures.ts";
import { FraudStack, type NodeProcess } from "./support/fraud-stack.ts";
import { FRAUD_TEST_SPEC, RECHECK_TEST_STACK, SCENARIO_TIMEOUT_MS } from "./support/fraud-test-settings.ts";

const { epochs: _epochs, ...baseSpec } = loadFixture("mlp").spec;
const SPEC = { ...baseSpec, ...FRAUD_TEST_SPEC };
/** Four leaves per 20-step segment: a first leaf the skim verifier replays, two it invents, its end. */
const STRIDE = 5;

describe("a verifier that invents its transcript's middle leaves", { timeout: 15 * 60_000 }, () => {
  let stack: FraudStack;
  let skim: NodeProcess;
  let whistleblower: NodeProcess;

  before(async () => {
    stack = await FraudStack.start(RECHECK_TEST_STACK);
    await setProtocolParameters(stack.devnet.wsUrl, "//Alice", { transcriptStride: STRIDE });
    await stack.startNode("worker", "//Bob");
    skim = await stack.startNode("verifier", "//Charlie", "skim");
    whistleblower = await stack.startWhistleblower("//Dave", 1, 2);
  });

  after(async () => {
    await stack?.stop();
  });

  /** The task once every audit settled and no dispute about it is open. */
  async function settledTask(jobId: string): Promise<TaskView> {
    const until = Date.now() + 2 * SCENARIO_TIMEOUT_MS;
    for (;;) {
      const task = await stack.chainTask(jobId);
      const audited = task !== null && task.audits.length > 0 && task.audits.every((a) => a.settled);
      if (audited && task.disputes.length === 0) return task;
      assert.ok(Date.now() < until, `the audits of job ${jobId} never settled\n${stack.logs()}`);
      await sleep(500);
    }
  }

  it("is challenged at its first invented leaf, loses the transcript dispute and is slashed", async () => {
    const bonded = (await readNode(stack.chain.api, skim.address))!.bonded;
    const reserved = (await readBalance(stack.chain.api, whistleblower.address)).reserved;
    const job = await stack.submit(SPEC);
    const task = await settledTask(job.id);
    // Who paid for the dispute first: the cheat, not the whistleblower that caught it.
    assert.ok((await readNode(stack.chain.api, skim.address))!.bonded < bonded, stack.logs());
    // Its challenge bonds are back: it lost none of them to the cheat.
    assert.equal(
      (await readBalance(stack.chain.api, whistleblower.address)).reserved,
      reserved,
      stack.logs(),
    );
    for (const audit of task.audits) {
      const start = BigInt(audit.segment) * task.checkpointInterval;
      const layout = new TranscriptLayout(start, start + 20n, BigInt(task.transcriptStride));
      assert.equal(layout.leaves, 4);
      assert.equal(audit.verifier, skim.address);
      assert.equal(audit.challenger?.who, whistleblower.address, stack.logs());
      // Leaf 0 is true, leaf 1 the first invented one.
      assert.equal(audit.challenger?.firstWrongStep, layout.stepOf(1), stack.logs());
      assert.equal(audit.outcome, "Failed", stack.logs());
    }
  });
});
