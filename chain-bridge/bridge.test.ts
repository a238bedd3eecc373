import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { newId } from "../api/ids.ts";
import {
  type BridgeFixture,
  sampleSpec,
  stakedNode,
  startBridgeFixture,
} from "../test/support/chain-fixture.ts";
import { readBalance, readTask } from "./compute-state.ts";
import { escrowFor, PLANCK_PER_VT, parseTokenRate } from "./conversion.ts";
import { BridgeError } from "./errors.ts";
import { newForcedErrorSecret } from "./forced-errors.ts";
import { NodeChainClient } from "./node-client.ts";

const RATE = "0.37";

describe("ChainBridge against the dev chain", () => {
  let fixture: BridgeFixture;
  let worker: NodeChainClient;
  /** Registered with a profile of its own; with no profile demanded, either worker may be drawn. */
  let profiledWorker: NodeChainClient;

  before(async () => {
    fixture = await startBridgeFixture(RATE);
  });

  after(async () => {
    await fixture.stop();
  });

  const nextTaskId = async () => (await fixture.chain.api.query.compute!.nextTaskId!()).toPrimitive();

  it("refuses an escrow no worker can take with the decoded module error, reserving nothing", async () => {
    const taskId = newId("task");
    const before = await readBalance(fixture.chain.api, fixture.bridge.operatorAddress);
    await assert.rejects(
      fixture.bridge.openEscrow({ taskId, jobId: fixture.jobId, usdCents: 500n, spec: sampleSpec() }),
      (error: unknown) =>
        error instanceof BridgeError &&
        error.code === "DISPATCH_FAILED" &&
        error.module?.pallet === "Compute" &&
        error.module.name === "NoEligibleWorker",
    );
    const task = await fixture.database.db.task.findUniqueOrThrow({ where: { id: taskId } });
    assert.equal(task.status, "open_failed");
    assert.match(task.failureReason ?? "", /Compute\.NoEligibleWorker/);
    const afterBalance = await readBalance(fixture.chain.api, fixture.bridge.operatorAddress);
    assert.equal(afterBalance.reserved, before.reserved);
  });

  it("opens an escrow at the recorded rate, once, however often it is asked", async () => {
    worker = await stakedNode(fixture.chain, "//Bob", { worker: true });
    const taskId = newId("task");
    // Digests as the file store keeps them: bare hex.
    const spec = sampleSpec({ modelSha256: "ab".repeat(32) });
    const before = await readBalance(fixture.chain.api, fixture.bridge.operatorAddress);
    const escrow = await fixture.bridge.openEscrow({ taskId, jobId: fixture.jobId, usdCents: 1_234n, spec });
    const expected = escrowFor(1_234n, parseTokenRate(RATE)).planck;
    assert.equal(escrow.escrowPlanck, expected);
    assert.equal(escrow.usdPerVt, RATE);
    assert.equal(escrow.worker, worker.address);
    assert.match(escrow.extrinsicHash ?? "", /^0x[0-9a-f]{64}$/);

    const onChain = await readTask(fixture.chain.api, escrow.chainTaskId);
    assert.equal(onChain?.status, "Assigned");
    assert.equal(onChain?.price, expected);
    assert.equal(onChain?.submitter, fixture.bridge.operatorAddress);
    const afterOpen = await readBalance(fixture.chain.api, fixture.bridge.operatorAddress);
    assert.equal(afterOpen.reserved - before.reserved, expected);

    const tasksBefore = await nextTaskId();
    const again = await fixture.bridge.openEscrow({ taskId, jobId: fixture.jobId, usdCents: 1_234n, spec });
    assert.equal(again.chainTaskId, escrow.chainTaskId);
    assert.equal(await nextTaskId(), tasksBefore);
    assert.equal(
      (await readBalance(fixture.chain.api, fixture.bridge.operatorAddress)).reserved,
      afterOpen.reserved,
    );
    await assert.rejects(
      fixture.bridge.openEscrow({ taskId, jobId: fixture.jobId, usdCents: 999n, spec }),
      (error: unknown) => error instanceof BridgeError && error.code === "CAUSE_CONFLICT",
    );

    const settlement = await fixture.bridge.cancel(taskId);
    assert.equal(settlement.payout.refund, expected);
    assert.equal(settlement.spentCents, 0n);
    assert.equal(settlement.refundCents, 1_234n);
    assert.equal(
      (await readBalance(fixture.chain.api, fixture.bridge.operatorAddress)).reserved,
      before.reserved,
    );
    assert.equal((await fixture.bridge.taskState(taskId)).status, "Cancelled");
  });

  it("retries an escrow that failed for good under a new cause once a worker can take it", async () => {
    const taskId = newId("task");
    const profile = `0x${"22".repeat(32)}`;
    const request = { taskId, jobId: fixture.jobId, usdCents: 100n, spec: sampleSpec({ profile }) };
    await assert.rejects(
      fixture.bridge.openEscrow(request),
      (error: unknown) => error instanceof BridgeError && error.module?.name === "NoEligibleWorker",
    );
    const node = await NodeChainClient.create(fixture.chain.api, "//Charlie");
    profiledWorker = node;
    await node.register({
      roles: { worker: true, verifier: false, whistleblower: false },
      profile,
      commitment: newForcedErrorSecret().commitment,
      bond: 1_000n * PLANCK_PER_VT,
    });
    const escrow = await fixture.bridge.openEscrow(request);
    assert.equal(escrow.worker, node.address);
    const causes = await fixture.database.db.chainTransaction.findMany({
      where: { causeKey: { startsWith: `task:${taskId}:create` } },
      orderBy: { createdAt: "asc" },
    });
    assert.deepEqual(
      causes.map((row) => [row.causeKey, row.status]),
      [
        [`task:${taskId}:create`, "failed"],
        [`task:${taskId}:create#1`, "succeeded"],
      ],
    );
    await fixture.bridge.cancel(taskId);
  });

  it("finalizes a committed task without audits and accounts for it in cents", async () => {
    const taskId = newId("task");
    const escrow = await fixture.bridge.openEscrow({
      taskId,
      jobId: fixture.jobId,
      usdCents: 1_000n,
      spec: sampleSpec(),
    });
    const assigned = escrow.worker === worker.address ? worker : profiledWorker;
    assert.equal(escrow.worker, assigned.address);
    const workerBefore = await assigned.balance();
    const jackpotBefore = await fixture.bridge.jackpotBalance();
    const root = `0x${"ab".repeat(32)}`;
    await assigned.commit({
      chainTaskId: escrow.chainTaskId,
      root,
      checkpoints: 2,
      steps: 5n,
      result: `0x${"cd".repeat(32)}`,
    });
    const settlement = await fixture.bridge.finalize(taskId);
    const { payout } = settlement;
    // Half the steps were trained: half the price is the cost, the rest comes back.
    const cost = escrow.escrowPlanck / 2n;
    assert.equal(payout.worker + payout.verifiers + payout.jackpot, cost);
    assert.equal(payout.refund, escrow.escrowPlanck - cost);
    assert.equal(settlement.spentCents + settlement.refundCents, 1_000n);
    assert.equal(settlement.spentCents, 500n);
    const workerAfter = await assigned.balance();
    assert.ok(workerAfter.free > workerBefore.free, "the worker was paid");
    assert.ok(payout.jackpot > 0n, "the task paid the jackpot tax");
    assert.equal(await fixture.bridge.jackpotBalance(), jackpotBefore + payout.jackpot, "into the pot");
    assert.equal((await fixture.bridge.taskState(taskId)).status, "Finalized");
  });

  it("rejects malformed requests before touching the chain", async () => {
    await assert.rejects(
      fixture.bridge.openEscrow({
        taskId: newId("task"),
        jobId: fixture.jobId,
        usdCents: 10n,
        spec: sampleSpec({ modelSha256: "abc" }),
      }),
      (error: unknown) =>
        error instanceof BridgeError &&
        error.code === "INVALID_ARGUMENT" &&
        /modelSha256/.test(error.message),
    );
    await assert.rejects(
      fixture.bridge.taskState("task_missing"),
      (error: unknown) => error instanceof BridgeError && error.code === "UNKNOWN_TASK",
    );
  });
});
