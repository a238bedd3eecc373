import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { newId } from "../api/ids.ts";
import {
  agreeingVerdict,
  type BridgeFixture,
  committedTask,
  sampleSpec,
  stakedNode,
  startBridgeFixture,
} from "../test/support/chain-fixture.ts";
import { BridgeError } from "./errors.ts";
import { EventWatcher, type WatchedEvent } from "./event-watcher.ts";
import { finalizedNumber } from "./inclusion.ts";
import type { NodeChainClient } from "./node-client.ts";

describe("EventWatcher", () => {
  let fixture: BridgeFixture;
  let worker: NodeChainClient;
  let verifier: NodeChainClient;

  before(async () => {
    fixture = await startBridgeFixture();
    worker = await stakedNode(fixture.chain, "//Bob", { worker: true });
    verifier = await stakedNode(fixture.chain, "//Charlie", { verifier: true });
  });

  after(async () => {
    await fixture.stop();
  });

  const watcher = (events: WatchedEvent[] = []) =>
    new EventWatcher({
      api: fixture.chain.api,
      db: fixture.database.db,
      onEvent: (event) => void events.push(event),
    });

  it("reconciles a task's life into the database and resumes from its cursor without repeats", async () => {
    const { taskId, escrow, commit, leaves } = await committedTask(fixture, worker, 900n);
    await fixture.bridge.selectAudits(taskId, 0);

    const firstRun: WatchedEvent[] = [];
    const head = await watcher(firstRun).catchUp();
    assert.equal(head, await finalizedNumber(fixture.chain.api));
    const task = await fixture.database.db.task.findUniqueOrThrow({
      where: { id: taskId },
      include: { audits: true },
    });
    assert.equal(task.status, "auditing");
    assert.equal(task.checkpointRoot, commit.root);
    assert.equal(task.checkpointCount, 3);
    assert.equal(task.committedSteps, 10n);
    assert.equal(task.resultHash, commit.result);
    assert.equal(task.audits.length, 1);
    assert.equal(task.audits[0]?.verifierAddress, verifier.address);
    assert.deepEqual(
      firstRun.filter((event) => event.taskId === taskId).map((event) => event.name),
      ["TaskCreated", "WorkerAssigned", "CheckpointsCommitted", "AuditAssigned", "AuditsSelected"],
    );

    // The watcher is down while the verdict lands; a new one resumes after its cursor.
    const submitted = agreeingVerdict((await verifier.task(escrow.chainTaskId))!, 0, leaves);
    const verdict = await verifier.submitVerdict({
      chainTaskId: escrow.chainTaskId,
      auditIndex: 0,
      ...submitted,
    });
    const journaledBefore = await fixture.database.db.chainEvent.count();
    const secondRun: WatchedEvent[] = [];
    await watcher(secondRun).catchUp();
    assert.deepEqual(
      secondRun.map((event) => event.name),
      ["VerdictSubmitted"],
    );
    assert.equal(await fixture.database.db.chainEvent.count(), journaledBefore + 1);
    const audit = await fixture.database.db.taskAudit.findFirstOrThrow({ where: { taskId } });
    assert.equal(audit.agrees, true);
    assert.equal(audit.transcript, submitted.transcript);
    assert.equal(audit.verdictExtrinsicHash, verdict.extrinsicHash);

    const thirdRun: WatchedEvent[] = [];
    await watcher(thirdRun).catchUp();
    assert.deepEqual(thirdRun, [], "nothing is applied twice");
  });

  it("follows new finalized blocks live once started", async () => {
    const seen: WatchedEvent[] = [];
    const live = watcher(seen);
    await live.start();
    try {
      const taskId = newId("task");
      await fixture.database.db.task.count();
      // A profile no node registered: the chain refuses the escrow whatever capacity the worker has.
      const spec = sampleSpec({ profile: `0x${"99".repeat(32)}` });
      await assert.rejects(
        fixture.bridge.openEscrow({ taskId, jobId: fixture.jobId, usdCents: 100n, spec }),
        BridgeError,
      );
      await verifier.bondExtra(1n);
      const deadline = Date.now() + 10_000;
      while (!seen.some((event) => event.name === "Bonded") && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const bonded = seen.find((event) => event.name === "Bonded");
      assert.equal(bonded?.data.who, verifier.address);
    } finally {
      await live.stop();
    }
  });

  it("refuses a cursor that belongs to another chain", async () => {
    await fixture.database.db.chainCursor.update({
      where: { name: "compute" },
      data: { genesisHash: `0x${"00".repeat(32)}` },
    });
    await assert.rejects(
      watcher().catchUp(),
      (error: unknown) =>
        error instanceof BridgeError &&
        error.code === "RECONCILE_FAILED" &&
        /another chain/.test(error.message),
    );
  });
});
