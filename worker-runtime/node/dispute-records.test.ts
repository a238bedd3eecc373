// A node's dispute records go once no dispute can be opened about them any more, never while one
// could, and a node whose records still needed reach its limit keeps no more. The chain's task
// states are written out here as the pallet records them (PROTOCOL.md §5.7, §6.6, §7, §9); the
// same rule on the dev chain, pruning while disputes are played, is in test/disputes.e2e.test.ts.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { AuditView, ChainTaskStatus, TaskView } from "../../chain-bridge/index.ts";
import {
  keepVerifierRecord,
  keepWorkerRecord,
  keptRecords,
  pruneRecords,
  type RecordChainView,
  recordedRun,
  recordStillNeeded,
  roomForRecords,
} from "./dispute-records.ts";

const scratch = mkdtempSync(join(tmpdir(), "veritrain-records-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const ME = "5Me";
const OTHER = "5Other";

function audit(settled: boolean): AuditView {
  return {
    segment: 0,
    verifier: ME,
    commitment: `0x${"00".repeat(32)}`,
    verdict: { agrees: true, transcript: `0x${"11".repeat(32)}`, at: 10 },
    challenger: null,
    forced: settled ? false : null,
    outcome: settled ? "Passed" : "Pending",
    settled,
  };
}

function task(
  chainTaskId: bigint,
  status: ChainTaskStatus,
  { worker = ME, audits = [] as AuditView[], disputes = [] as bigint[] } = {},
): TaskView {
  return {
    chainTaskId,
    submitter: OTHER,
    price: 100n,
    status,
    worker,
    attempt: 0,
    profile: null,
    graphNodes: 12,
    checkpointInterval: 10n,
    commitDeadline: 0,
    commitment: null,
    seed: null,
    transcriptStride: 16,
    verdictDeadline: 0,
    challengeEnd: 0,
    revealEnd: 0,
    audits,
    disputes,
    payout: null,
    delivery: null,
  };
}

describe("recordStillNeeded", () => {
  it("keeps a worker's record while its attempt can still be audited or disputed", () => {
    for (const status of ["Committed", "Auditing", "Closed"] as const) {
      assert.equal(recordStillNeeded(task(1n, status), ME, "worker"), true, status);
    }
    for (const status of ["Finalized", "Cancelled", "Unassigned"] as const) {
      assert.equal(recordStillNeeded(task(1n, status), ME, "worker"), false, status);
    }
    // Re-assigned: its attempt is void, its commit can no longer be disputed.
    assert.equal(recordStillNeeded(task(1n, "Assigned", { worker: OTHER }), ME, "worker"), false);
    assert.equal(recordStillNeeded(null, ME, "worker"), false);
  });

  it("keeps a verdict's record until every audit of the task settled and no dispute is open", () => {
    const unsettled = task(2n, "Auditing", { audits: [audit(true), audit(false)] });
    assert.equal(recordStillNeeded(unsettled, ME, "verdict"), true);
    const settled = task(2n, "Closed", { audits: [audit(true), audit(true)] });
    assert.equal(recordStillNeeded(settled, ME, "verdict"), false);
    const disputed = task(2n, "Closed", { audits: [audit(true)], disputes: [7n] });
    assert.equal(recordStillNeeded(disputed, ME, "verdict"), true);
    assert.equal(recordStillNeeded({ ...disputed, worker: OTHER }, ME, "worker"), true);
  });
});

describe("pruneRecords and roomForRecords", () => {
  const run = {
    model: new Uint8Array(1000).fill(1),
    dataset: { bytes: new Uint8Array(3000).fill(2), fileName: "d.safetensors" },
    spec: { batch_size: 4 },
    threads: 1,
  };
  const start = { step: 0, bytes: new Uint8Array(500).fill(3), proof: [] };

  /** The chain as the node reads it: tasks by id, changed as the test's chain moves on. */
  function chainOf(tasks: Map<bigint, TaskView>): RecordChainView {
    return { address: ME, task: async (id) => tasks.get(id) ?? null };
  }

  it("removes a record once no dispute can need it, with the worker's checkpoints, and never before", async () => {
    const dataDir = join(scratch, "prune");
    const checkpoints = join(dataDir, "tasks", "job-1", "attempt-0", "checkpoints");
    mkdirSync(checkpoints, { recursive: true });
    writeFileSync(join(checkpoints, "step-0.ckpt"), new Uint8Array(2000));
    keepWorkerRecord(dataDir, 1n, run, checkpoints, ["aa", "bb"]);
    keepVerifierRecord(dataDir, 2n, run, start, ["cc"]);
    keepVerifierRecord(dataDir, 3n, run, start);
    assert.deepEqual(
      keptRecords(dataDir).map((r) => [r.chainTaskId, r.kind]),
      [
        [1n, "worker"],
        [2n, "verdict"],
        [3n, "verdict"],
      ],
    );
    const tasks = new Map<bigint, TaskView>([
      [1n, task(1n, "Auditing", { audits: [audit(false)] })],
      [2n, task(2n, "Auditing", { audits: [audit(false)] })],
      [3n, task(3n, "Closed", { audits: [audit(true)], disputes: [4n] })],
    ]);
    const chain = chainOf(tasks);
    assert.deepEqual(await pruneRecords(dataDir, chain), []);
    // The audits settle; task 3's dispute is still open; task 1 may get another audit round.
    tasks.set(1n, task(1n, "Closed", { audits: [audit(true)] }));
    tasks.set(2n, task(2n, "Closed", { audits: [audit(true)] }));
    assert.deepEqual(await pruneRecords(dataDir, chain), [2n]);
    assert.equal(recordedRun(dataDir, 2n), null);
    assert.ok(recordedRun(dataDir, 1n) && recordedRun(dataDir, 3n));
    // Task 3's dispute resolves; task 1 is finalized.
    tasks.set(3n, task(3n, "Closed", { audits: [audit(true)] }));
    tasks.set(1n, task(1n, "Finalized", { audits: [audit(true)] }));
    assert.deepEqual((await pruneRecords(dataDir, chain)).sort(), [1n, 3n]);
    assert.deepEqual(keptRecords(dataDir), []);
    assert.equal(existsSync(checkpoints), false, "the worker's checkpoints go with its record");
  });

  it("keeps a record whose task the chain cannot be asked about, and checkpoints outside the data dir", async () => {
    const dataDir = join(scratch, "unreachable");
    const elsewhere = join(scratch, "elsewhere-checkpoints");
    mkdirSync(elsewhere, { recursive: true });
    keepWorkerRecord(dataDir, 5n, run, elsewhere, ["aa"]);
    const down: RecordChainView = {
      address: ME,
      task: async () => {
        throw new Error("connection lost");
      },
    };
    assert.deepEqual(await pruneRecords(dataDir, down), []);
    assert.ok(recordedRun(dataDir, 5n));
    assert.deepEqual(await pruneRecords(dataDir, chainOf(new Map())), [5n]);
    assert.ok(existsSync(elsewhere), "a directory the node does not own is left alone");
  });

  it("removes a record the node stopped while keeping, which no dispute can be played from", async () => {
    const dataDir = join(scratch, "cut-short");
    keepVerifierRecord(dataDir, 6n, run, start, ["cc"]);
    keepVerifierRecord(dataDir, 7n, run, start, ["dd"]);
    writeFileSync(join(dataDir, "disputes", "6", "record.json"), '{"dataset_file_na');
    rmSync(join(dataDir, "disputes", "7", "record.json"));
    assert.deepEqual(
      keptRecords(dataDir).map((r) => r.kind),
      ["unreadable", "unreadable"],
    );
    const unreachable: RecordChainView = {
      address: ME,
      task: async () => {
        throw new Error("connection lost");
      },
    };
    assert.deepEqual((await pruneRecords(dataDir, unreachable)).sort(), [6n, 7n]);
    assert.deepEqual(keptRecords(dataDir), []);
  });

  it("has no room once the records still needed reach the limit, and room again once they settle", async () => {
    const dataDir = join(scratch, "limit");
    const tasks = new Map<bigint, TaskView>();
    const chain = chainOf(tasks);
    keepVerifierRecord(dataDir, 10n, run, start, ["cc"]);
    tasks.set(10n, task(10n, "Auditing", { audits: [audit(false)] }));
    const one = keptRecords(dataDir)[0]!.bytes;
    assert.ok(one > 4500, `a record holds its model, dataset and checkpoint (${one} bytes)`);
    assert.deepEqual(await roomForRecords(dataDir, chain, 2 * one), { room: true, bytes: one });
    keepVerifierRecord(dataDir, 11n, run, start, ["dd"]);
    tasks.set(11n, task(11n, "Auditing", { audits: [audit(false)] }));
    // Both still needed: no room, and neither is removed to make some.
    assert.deepEqual(await roomForRecords(dataDir, chain, 2 * one), { room: false, bytes: 2 * one });
    assert.equal(keptRecords(dataDir).length, 2);
    tasks.set(10n, task(10n, "Closed", { audits: [audit(true)] }));
    assert.deepEqual(await roomForRecords(dataDir, chain, 2 * one), { room: true, bytes: one });
    assert.deepEqual(
      keptRecords(dataDir).map((r) => r.chainTaskId),
      [11n],
    );
  });
});
