// Capacity by stake (PROTOCOL.md §3): a node holds as many duties as its bond covers, one duty
// stake each; a slash takes from the failed duty's stake only; unbonding leaves the stake that
// open duties need. Through the real @polkadot/api against the dev chain, balances conserved.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { KeyringPair } from "@polkadot/keyring/types";
import {
  checkpointTree,
  forgedRun,
  honestRun,
  type TrainingView,
  transcriptTree,
} from "../../../test/support/compute-runs.ts";
import {
  big,
  ComputeScenario,
  eventOf,
  GRAPH_NODES,
  num,
  type SeenEvent,
  STAKE,
  taskSpec,
  VT,
} from "../../../test/support/compute-scenario.ts";
import { percentOf } from "./compute-amounts.ts";

const honest = honestRun(GRAPH_NODES);
const { worker: WORKER_STAKE, verifier: VERIFIER_STAKE } = STAKE;
const PRICE = 100n * VT;
const WORKER = { worker: true, verifier: false, whistleblower: false };
const VERIFIER = { worker: false, verifier: true, whistleblower: false };

let chain: ComputeScenario;

const spec = (verificationLevel: number) => taskSpec({ verificationLevel });

async function createTask(verificationLevel = 0): Promise<{ taskId: bigint; worker: string }> {
  const events = await chain.ok(
    chain.accounts.alice,
    chain.compute("createTask", spec(verificationLevel), PRICE),
  );
  const assigned = eventOf(events, "WorkerAssigned");
  return { taskId: big(assigned.taskId), worker: String(assigned.worker) };
}

async function commit(taskId: bigint, worker: KeyringPair, run = honest): Promise<void> {
  const tree = checkpointTree(run, 8n, 8n);
  await chain.ok(worker, chain.compute("commit", taskId, tree.root, tree.checkpoints, 8n, run.state(8n)));
}

async function selectAudit(taskId: bigint): Promise<SeenEvent["data"]> {
  const committedAt = num(((await chain.task(taskId)).commitment as Record<string, unknown>).committedAt);
  await chain.advanceTo(committedAt + 1);
  return eventOf(
    await chain.ok(chain.accounts.ferdie, chain.compute("selectAudits", taskId)),
    "AuditAssigned",
  );
}

/**
 * The verdict on audit 0 of a one-segment task by a verifier whose replay went like `replay`, with
 * the proofs `submit_verdict` checks (PROTOCOL.md §5.4): its opinion follows from its end state.
 */
async function verdictCall(taskId: bigint, replay: TrainingView, committed: TrainingView) {
  const stride = big((await chain.task(taskId)).transcriptStride);
  const transcript = transcriptTree(replay, 0n, 8n, stride);
  const leaf = committed.state(8n);
  return chain.compute(
    "submitVerdict",
    taskId,
    0,
    transcript.endState === leaf,
    transcript.root,
    transcript.endState,
    transcript.proof(8n),
    leaf,
    checkpointTree(committed, 8n, 8n).proof(1),
  );
}

async function agree(taskId: bigint): Promise<void> {
  await chain.ok(chain.accounts.charlie, await verdictCall(taskId, honest, honest));
}

async function bonded(name: "bob" | "charlie"): Promise<bigint> {
  return big((await chain.node(name))?.bonded);
}

before(async () => {
  chain = await ComputeScenario.start();
  await chain.setParameters({
    commitBlocks: 10,
    auditDelayBlocks: 1,
    verdictBlocks: 3,
    challengeBlocks: 3,
    revealBlocks: 10,
    roundBlocks: 3,
    unbondingBlocks: 3,
    forcedErrorPpm: 0,
  });
  await chain.conserving(async () => {
    // Bob is the only worker and Charlie the only verifier: every draw is theirs.
    await chain.register("bob", WORKER, 2n * WORKER_STAKE);
    await chain.register("charlie", VERIFIER, 2n * VERIFIER_STAKE);
  });
});

after(async () => {
  await chain?.stop();
});

test("a worker takes as many tasks at once as its bond covers, and no more", async () => {
  await chain.conserving(async () => {
    const { alice, bob } = chain.accounts;
    const first = await createTask();
    const second = await createTask();
    assert.deepEqual([first.worker, second.worker], [bob.address, bob.address]);
    await chain.fails(alice, chain.compute("createTask", spec(0), PRICE), "Compute.NoEligibleWorker");
    await chain.ok(bob, chain.compute("bondExtra", WORKER_STAKE - VT));
    await chain.fails(alice, chain.compute("createTask", spec(0), PRICE), "Compute.NoEligibleWorker");
    await chain.ok(bob, chain.compute("bondExtra", VT));
    const third = await createTask();
    assert.equal(third.worker, bob.address);
    assert.equal(num((await chain.node("bob"))?.workerDuties), 3);
    for (const { taskId } of [first, second, third])
      await chain.ok(alice, chain.compute("cancelTask", taskId));
    assert.equal(num((await chain.node("bob"))?.workerDuties), 0);
  });
});

test("a node unbonds only what its open duties do not need, and withdraws it while still busy", async () => {
  await chain.conserving(async () => {
    const { alice, bob } = chain.accounts;
    const { taskId } = await createTask();
    const free = (await bonded("bob")) - WORKER_STAKE;
    await chain.fails(bob, chain.compute("unbond", free + 1n), "Compute.InsufficientBond");
    const unbonding = eventOf(await chain.ok(bob, chain.compute("unbond", free)), "Unbonding");
    await chain.fails(alice, chain.compute("createTask", spec(0), PRICE), "Compute.NoEligibleWorker");
    await chain.advanceTo(num(unbonding.unlockAt));
    await chain.ok(bob, chain.compute("withdrawUnbonded"));
    assert.equal((await chain.balance(bob.address)).reserved, WORKER_STAKE);
    await chain.ok(alice, chain.compute("cancelTask", taskId));
    await chain.ok(bob, chain.compute("bondExtra", WORKER_STAKE));
  });
});

test("a timeout on one task takes that task's duty stake only; the other task's stays backed", async () => {
  await chain.conserving(async () => {
    const { alice, bob } = chain.accounts;
    const late = await createTask();
    const onTime = await createTask();
    await commit(onTime.taskId, bob);
    await chain.advanceTo(num((await chain.task(late.taskId)).commitDeadline) + 1);
    const slashed = eventOf(await chain.ok(alice, chain.compute("reassignTask", late.taskId)), "Slashed");
    const params = await chain.parameters();
    assert.equal(big(slashed.amount), percentOf(WORKER_STAKE, params.timeoutSlashPercent));
    assert.equal((await chain.task(late.taskId)).status, "Unassigned", "Bob is excluded from the late task");
    assert.ok((await bonded("bob")) >= WORKER_STAKE, "the task still open keeps a whole duty stake");
    await chain.ok(alice, chain.compute("finalize", onTime.taskId));
    await chain.ok(alice, chain.compute("cancelTask", late.taskId));
    await chain.ok(bob, chain.compute("bondExtra", big(slashed.amount)));
  });
});

test("a fraud on one task takes that task's duty stake only, while the worker's other task goes on", async () => {
  await chain.conserving(async () => {
    const { alice, bob, charlie } = chain.accounts;
    const forged = forgedRun(GRAPH_NODES, 3n, 2);
    const cheat = await createTask(1);
    const other = await createTask();
    await commit(other.taskId, bob);
    await commit(cheat.taskId, bob, forged);
    const audit = await selectAudit(cheat.taskId);
    assert.equal(audit.verifier, charlie.address);
    await chain.ok(charlie, await verdictCall(cheat.taskId, honest, forged));
    await chain.advanceTo(num((await chain.task(cheat.taskId)).challengeEnd) + 1);
    const disputeId = big(eventOf(await chain.reveal(cheat.taskId, 0, charlie), "DisputeOpened").disputeId);
    const before = await bonded("bob");
    await chain.playDispute(disputeId, { defender: forged, challenger: honest, truth: honest });
    const params = await chain.parameters();
    const slash = percentOf(WORKER_STAKE, params.fraudSlashPercent);
    assert.equal(before - (await bonded("bob")), slash, "one duty stake's fraud share, not the whole bond's");
    assert.ok((await bonded("bob")) >= WORKER_STAKE, "the honest task keeps its whole duty stake");
    await chain.ok(alice, chain.compute("finalize", other.taskId));
    await chain.ok(alice, chain.compute("cancelTask", cheat.taskId));
    await chain.ok(bob, chain.compute("bondExtra", slash));
  });
});

test("a verifier takes a second audit only with a fresh forced-error commitment", async () => {
  await chain.conserving(async () => {
    const { alice, bob, charlie } = chain.accounts;
    await chain.ok(bob, chain.compute("bondExtra", WORKER_STAKE));
    const first = await createTask(1);
    const second = await createTask(1);
    await commit(first.taskId, bob);
    await commit(second.taskId, bob);
    assert.equal((await selectAudit(first.taskId)).verifier, charlie.address);
    await agree(first.taskId);
    await chain.fails(
      chain.accounts.ferdie,
      chain.compute("selectAudits", second.taskId),
      "Compute.NoEligibleVerifier",
    );
    const used = (await chain.node("charlie"))?.commitment;
    await chain.fails(charlie, chain.compute("rotateCommitment", used), "Compute.CommitmentReused");
    await chain.rotateCommitment(charlie);
    assert.equal((await selectAudit(second.taskId)).verifier, charlie.address);
    await agree(second.taskId);
    const commitments = await Promise.all(
      [first, second].map(
        async ({ taskId }) =>
          ((await chain.task(taskId)).audits as Array<{ commitment: string }>)[0]?.commitment,
      ),
    );
    assert.notEqual(commitments[0], commitments[1], "each audit has its own secret");
    await chain.rotateCommitment(charlie);
    const third = await createTask(1);
    await commit(third.taskId, bob);
    await chain.fails(
      chain.accounts.ferdie,
      chain.compute("selectAudits", third.taskId),
      "Compute.NoEligibleVerifier",
    );
    await chain.advanceTo(num((await chain.task(second.taskId)).challengeEnd) + 1);
    for (const { taskId } of [first, second]) await chain.reveal(taskId, 0, charlie);
    await chain.advanceTo(num((await chain.task(second.taskId)).revealEnd) + 1);
    for (const { taskId } of [first, second]) {
      await chain.ok(alice, chain.compute("closeAudits", taskId));
      await chain.ok(alice, chain.compute("finalize", taskId));
    }
    assert.equal((await selectAudit(third.taskId)).verifier, charlie.address, "its stake is free again");
    assert.equal(num((await chain.node("charlie"))?.verifierDuties), 1);
  });
});
