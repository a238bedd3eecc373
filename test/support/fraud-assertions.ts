// What every fraud scenario must show, held against its row (fraud-modes.ts): the cheat is caught
// the way the row says, the cheater is not paid (and slashed when it lost a dispute), nobody
// honest is slashed, tokens are conserved,
// the user pays nothing for fraudulent work, and no job succeeds with weights other than the
// honest ones.
import assert from "node:assert/strict";
import type { ScenarioResult } from "./fraud-scenario.ts";

export function assertScenario(result: ScenarioResult, logs: () => string): void {
  const { row, job, task } = result;
  const context = () =>
    `${row.mode}: job ${job.status} (${job.failure_reason ?? ""}), task ${task?.status ?? "none"}\n` +
    `events: ${result.events.map((e) => e.type).join(", ")}\n${logs()}`;
  const signals = {
    "refused-upload": result.refusedUploads.length,
    "disagreeing-verdict": result.disagreeingVerdicts,
    deadline: result.deadlines.length,
    whistleblower: result.transcriptDisputes,
    "delivery-challenge": result.lostDeliveries,
  };
  if (row.caughtBy) assert.ok(signals[row.caughtBy] > 0, `caught by ${row.caughtBy}\n${context()}`);
  else
    assert.deepEqual(
      signals,
      {
        "refused-upload": 0,
        "disagreeing-verdict": 0,
        deadline: 0,
        whistleblower: 0,
        "delivery-challenge": 0,
      },
      context(),
    );

  assert.equal(result.conservedBefore, true, "tokens conserved before the scenario");
  assert.equal(result.conserved, true, `tokens conserved after the scenario\n${context()}`);
  assert.deepEqual(result.honestSlashed, [], `no honest node slashed\n${context()}`);
  // Nothing caught: the row's node did no wrong (honest, or crashed after its commit), never slashed.
  if (!row.caughtBy)
    assert.equal(result.nodeSlashed, false, `the ${row.mode} node is not slashed\n${context()}`);
  if (row.nodePaid) assert.ok(result.nodePaid > 0n, `the ${row.mode} node is paid\n${context()}`);
  else assert.equal(result.nodePaid, 0n, `the ${row.mode} node is not paid\n${context()}`);

  switch (row.ends) {
    case "succeeded":
      assert.equal(job.status, "succeeded", context());
      assert.equal(result.deliveredCorrect, true, "the delivered model is the honest run's");
      assert.deepEqual(result.receiptFailures, [], "the receipt verifies");
      assert.equal(task?.status, "Finalized", "the escrow was paid out");
      assert.ok(job.price.charged_cents! <= job.price.reserved_cents, "charged at most what was quoted");
      break;
    case "failed":
      assert.equal(job.status, "failed", context());
      assert.equal(job.price.charged_cents, 0, "a job failed by the network costs the user nothing");
      assert.ok(
        task === null || task.status === "Cancelled" || task.status === "Finalized",
        `no escrow left locked: task ${task?.status}`,
      );
      break;
    case "disputed":
      assert.fail(`no job rests disputed: the platform drives disputes to their end\n${context()}`);
  }
  if (row.caughtBy === "disagreeing-verdict" || row.caughtBy === "whistleblower") {
    // The cheat lost the pinpoint game: it is slashed, and the job says so in words.
    assert.equal(result.nodeSlashed, true, `the ${row.mode} node is slashed\n${context()}`);
    assert.ok(
      result.events.some(
        (e) => e.type === "verification.fraud_proven" || e.type === "verification.dispute_rejected",
      ),
      `the dispute's outcome is a job event\n${context()}`,
    );
  }
  if (row.caughtBy === "delivery-challenge") {
    // It committed what it never delivered: the referee's ruling slashed it, in words on the job.
    assert.equal(result.nodeSlashed, true, `the ${row.mode} node is slashed\n${context()}`);
    assert.ok(
      result.events.some((e) => e.type === "verification.delivery_challenged"),
      `the challenge is a job event\n${context()}`,
    );
  }
}
