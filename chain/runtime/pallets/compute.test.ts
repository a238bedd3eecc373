// Every path of the Compute pallet through the real @polkadot/api against the dev chain, each
// scenario checked for conservation of all balances (only fees leave).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { KeyringPair } from "@polkadot/keyring/types";
import { stringToU8a, u8aToHex } from "@polkadot/util";
import { blake2AsHex } from "@polkadot/util-crypto";
import { commitmentMessage } from "../../../protocol/signed-messages.ts";
import {
  alteredRun,
  checkpointTree,
  forgedRun,
  honestRun,
  lazyRun,
  type TrainingView,
  type TranscriptTree,
  transcriptTree,
} from "../../../test/support/compute-runs.ts";
import {
  ALL_ROLES,
  big,
  ComputeScenario,
  eventOf,
  GRAPH_NODES,
  type NodeName,
  num,
  type SeenEvent,
  STAKE,
  taskSpec,
  VT,
} from "../../../test/support/compute-scenario.ts";
import { percentOf } from "./compute-amounts.ts";
import { JACKPOT_ACCOUNT } from "./compute-stake.ts";
import type { Hash, TaskSpec } from "./compute-types.ts";

const honest = honestRun(GRAPH_NODES);
const { worker: WORKER_STAKE, verifier: VERIFIER_STAKE, whistleblower: WHISTLEBLOWER_STAKE } = STAKE;
const PRICE = 1_000n * VT;
/** Grace's determinism profile; every other node shares another one. */
const GRACE_PROFILE = blake2AsHex("profile: ort 1.30.0, cpu, 1 thread, grace's machine", 256);

let chain: ComputeScenario;

const spec = taskSpec;

function eventsOf(events: SeenEvent[], method: string): Array<SeenEvent["data"]> {
  return events.filter((e) => e.section === "compute" && e.method === method).map((e) => e.data);
}

async function createTask(
  taskSpec: TaskSpec,
  price = PRICE,
): Promise<{ taskId: bigint; worker: KeyringPair }> {
  const events = await chain.ok(chain.accounts.alice, chain.compute("createTask", taskSpec, price));
  const assigned = eventOf(events, "WorkerAssigned");
  return { taskId: big(assigned.taskId), worker: chain.pairOf(assigned.worker) };
}

async function commitRun(
  taskId: bigint,
  worker: KeyringPair,
  view: TrainingView,
  steps: bigint,
): Promise<void> {
  const task = await chain.task(taskId);
  const interval = big((task.spec as Record<string, unknown>).checkpointInterval);
  const tree = checkpointTree(view, steps, interval);
  await chain.ok(
    worker,
    chain.compute("commit", taskId, tree.root, tree.checkpoints, steps, view.state(steps)),
  );
}

type AuditInfo = {
  auditIndex: number;
  segment: number;
  verifier: KeyringPair;
  start: bigint;
  end: bigint;
  /** The task's committed steps and checkpoint interval, and the transcript stride of its audits. */
  steps: bigint;
  interval: bigint;
  stride: bigint;
};

async function selectAudits(taskId: bigint): Promise<AuditInfo[]> {
  const task = await chain.task(taskId);
  const committedAt = num((task.commitment as Record<string, unknown>).committedAt);
  await chain.advanceTo(committedAt + 1);
  const events = await chain.ok(chain.accounts.ferdie, chain.compute("selectAudits", taskId));
  const interval = big((task.spec as Record<string, unknown>).checkpointInterval);
  const steps = big((task.commitment as Record<string, unknown>).steps);
  const stride = big((await chain.task(taskId)).transcriptStride);
  return eventsOf(events, "AuditAssigned").map((audit) => {
    const start = BigInt(num(audit.segment)) * interval;
    return {
      auditIndex: num(audit.auditIndex),
      segment: num(audit.segment),
      verifier: chain.pairOf(audit.verifier),
      start,
      end: start + interval < steps ? start + interval : steps,
      steps,
      interval,
      stride,
    };
  });
}

/** The audit's transcript as a verifier whose replay went like `view` builds it. */
function transcriptOf(audit: AuditInfo, view: TrainingView): TranscriptTree {
  return transcriptTree(view, audit.start, audit.end, audit.stride);
}

/**
 * A `submit_verdict` with the proofs it needs: the transcript's end state is its last leaf, and
 * the worker's leaf for the segment's end is in the root the worker (`committed`) committed.
 */
function verdictCall(
  taskId: bigint,
  audit: AuditInfo,
  agrees: boolean,
  transcript: TranscriptTree,
  committed: TrainingView = honest,
  endState: Hash = transcript.endState,
) {
  const checkpoints = checkpointTree(committed, audit.steps, audit.interval);
  return chain.compute(
    "submitVerdict",
    taskId,
    audit.auditIndex,
    agrees,
    transcript.root,
    endState,
    transcript.proof(audit.end),
    committed.state(audit.end),
    checkpoints.proof(audit.segment + 1),
  );
}

async function verdict(
  taskId: bigint,
  audit: AuditInfo,
  agrees: boolean,
  transcript: TranscriptTree,
  committed: TrainingView = honest,
): Promise<void> {
  await chain.ok(audit.verifier, verdictCall(taskId, audit, agrees, transcript, committed));
}

/** The verdict of a verifier that replayed the segment as `replay` and compares with the worker's `committed` run. */
async function honestVerdict(
  taskId: bigint,
  audit: AuditInfo,
  replay: TrainingView = honest,
  committed: TrainingView = honest,
): Promise<void> {
  const agrees = replay.state(audit.end) === committed.state(audit.end);
  await verdict(taskId, audit, agrees, transcriptOf(audit, replay), committed);
}

async function windows(taskId: bigint): Promise<{ challengeEnd: number; revealEnd: number }> {
  const task = await chain.task(taskId);
  return { challengeEnd: num(task.challengeEnd), revealEnd: num(task.revealEnd) };
}

/** A task whose worker committed `committed` in full, with its one audit selected. */
async function auditedTask(
  committed: TrainingView = honest,
): Promise<{ taskId: bigint; worker: KeyringPair; audit: AuditInfo }> {
  const { taskId, worker } = await createTask(spec());
  await commitRun(taskId, worker, committed, 8n);
  const [audit] = await selectAudits(taskId);
  assert.ok(audit !== undefined);
  return { taskId, worker, audit };
}

/** Reveals once the challenge window is over; the verdict or a challenge must have opened a dispute. */
async function openDispute(taskId: bigint, audit: AuditInfo): Promise<SeenEvent["data"]> {
  await chain.advanceTo((await windows(taskId)).challengeEnd + 1);
  return eventOf(await chain.reveal(taskId, audit.auditIndex, audit.verifier), "DisputeOpened");
}

async function closeAndFinalize(taskId: bigint): Promise<SeenEvent["data"]> {
  await chain.advanceTo((await windows(taskId)).revealEnd + 1);
  await chain.ok(chain.accounts.ferdie, chain.compute("closeAudits", taskId));
  const events = await chain.ok(chain.accounts.ferdie, chain.compute("finalize", taskId));
  return eventOf(events, "TaskFinalized");
}

/** Tops a slashed node's bond back up to `target` so later scenarios find it eligible. */
async function restoreStake(name: NodeName, target: bigint): Promise<void> {
  const node = await chain.node(name);
  assert.ok(node !== null);
  const missing = target - big(node.bonded);
  if (missing > 0n) await chain.ok(chain.accounts[name], chain.compute("bondExtra", missing));
}

async function restoreAll(): Promise<void> {
  await restoreStake("bob", WORKER_STAKE);
  await restoreStake("ferdie", WORKER_STAKE);
  await restoreStake("charlie", VERIFIER_STAKE);
  await restoreStake("dave", VERIFIER_STAKE);
}

before(async () => {
  chain = await ComputeScenario.start();
  await chain.setParameters({
    commitBlocks: 10,
    auditDelayBlocks: 1,
    verdictBlocks: 3,
    challengeBlocks: 3,
    revealBlocks: 5,
    roundBlocks: 3,
    unbondingBlocks: 3,
    forcedErrorPpm: 0,
  });
  await chain.conserving(async () => {
    await chain.register("bob", { worker: true, verifier: false, whistleblower: false }, WORKER_STAKE);
    await chain.register("ferdie", { worker: true, verifier: false, whistleblower: false }, WORKER_STAKE);
    await chain.register("charlie", { worker: false, verifier: true, whistleblower: false }, VERIFIER_STAKE);
    await chain.register("dave", { worker: false, verifier: true, whistleblower: false }, VERIFIER_STAKE);
    await chain.register("eve", { worker: false, verifier: false, whistleblower: true }, WHISTLEBLOWER_STAKE);
    await chain.ok(
      chain.accounts.alice,
      chain.call("balances", "transferKeepAlive", chain.accounts.grace.address, 10_000n * VT),
    );
  });
});

after(async () => {
  await chain?.stop();
});

test("parameters change only by Root and only to a consistent set", async () => {
  const current = await chain.parameters();
  await chain.fails(chain.accounts.bob, chain.compute("setParameters", current), "BadOrigin");
  const events = await chain.ok(
    chain.accounts.alice,
    chain.call("sudo", "sudo", chain.compute("setParameters", { ...current, winnerSharePercent: 90 })),
  );
  const sudid = events.find((e) => e.method === "Sudid");
  assert.ok(
    sudid !== undefined && typeof sudid.data.sudoResult === "object" && sudid.data.sudoResult !== null,
  );
  assert.ok("err" in sudid.data.sudoResult, "winner 90% + jackpot 25% is refused");
  const unstrided = await chain.ok(
    chain.accounts.alice,
    chain.call("sudo", "sudo", chain.compute("setParameters", { ...current, transcriptStride: 0 })),
  );
  assert.ok(
    JSON.stringify(unstrided.find((e) => e.method === "Sudid")?.data.sudoResult).includes("err"),
    "a transcript stride of 0 is refused",
  );
  assert.equal(current.transcriptStride, 16);
  assert.deepEqual(await chain.parameters(), current);
});

test("a node registers, bonds more, unbonds with a delay, withdraws and deregisters", async () => {
  const alice = chain.accounts.alice;
  await chain.conserving(async () => {
    const free = await chain.feeAdjustedFree(alice);
    await chain.fails(alice, chain.compute("bondExtra", VT), "Compute.NotRegistered");
    await chain.fails(
      alice,
      chain.compute(
        "register",
        { worker: false, verifier: false, whistleblower: false },
        blake2AsHex("p"),
        blake2AsHex("c"),
        VT,
      ),
      "Compute.NoRoles",
    );
    await chain.fails(
      alice,
      chain.compute("register", ALL_ROLES, blake2AsHex("p"), blake2AsHex("c"), VERIFIER_STAKE),
      "Compute.BondTooLow",
    );
    await chain.register(
      "alice",
      { worker: false, verifier: false, whistleblower: true },
      WHISTLEBLOWER_STAKE,
    );
    await chain.fails(
      alice,
      chain.compute("register", ALL_ROLES, blake2AsHex("p"), blake2AsHex("c"), WORKER_STAKE),
      "Compute.AlreadyRegistered",
    );
    await chain.ok(alice, chain.compute("bondExtra", 10n * VT));
    assert.equal((await chain.balance(alice.address)).reserved, WHISTLEBLOWER_STAKE + 10n * VT);
    await chain.fails(alice, chain.compute("unbond", 0n), "Compute.ZeroAmount");
    await chain.fails(alice, chain.compute("unbond", WORKER_STAKE), "Compute.InsufficientBond");
    const unbonding = eventOf(
      await chain.ok(alice, chain.compute("unbond", WHISTLEBLOWER_STAKE + 10n * VT)),
      "Unbonding",
    );
    await chain.fails(alice, chain.compute("deregister"), "Compute.StakeRemaining");
    await chain.fails(alice, chain.compute("withdrawUnbonded"), "Compute.StillLocked");
    await chain.advanceTo(num(unbonding.unlockAt));
    await chain.ok(alice, chain.compute("withdrawUnbonded"));
    await chain.fails(alice, chain.compute("withdrawUnbonded"), "Compute.NothingToWithdraw");
    await chain.ok(alice, chain.compute("deregister"));
    assert.equal(await chain.node("alice"), null);
    assert.equal((await chain.balance(alice.address)).reserved, 0n);
    assert.equal(await chain.feeAdjustedFree(alice), free);
  });
});

test("honest work with honest audits pays worker, verifiers and the jackpot tax pro rata", async () => {
  await chain.conserving(async () => {
    const { alice } = chain.accounts;
    const aliceBefore = await chain.feeAdjustedFree(alice);
    const jackpotBefore = (await chain.balance(JACKPOT_ACCOUNT)).free;
    const { taskId, worker } = await createTask(
      spec({ maxSteps: 8n, checkpointInterval: 2n, verificationLevel: 2 }),
    );
    assert.equal((await chain.balance(alice.address)).reserved, PRICE);
    const workerBefore = await chain.feeAdjustedFree(worker);
    await commitRun(taskId, worker, honest, 6n);
    const audits = await selectAudits(taskId);
    assert.equal(audits.length, 2);
    assert.notEqual(audits[0]!.verifier.address, audits[1]!.verifier.address);
    const verifiersBefore = await Promise.all(audits.map((a) => chain.feeAdjustedFree(a.verifier)));
    for (const audit of audits) await honestVerdict(taskId, audit);
    await chain.fails(
      audits[0]!.verifier,
      verdictCall(taskId, audits[0]!, true, transcriptOf(audits[0]!, honest)),
      "Compute.AlreadySubmitted",
    );
    await chain.fails(
      audits[0]!.verifier,
      chain.compute("reveal", taskId, audits[0]!.auditIndex, blake2AsHex("x"), blake2AsHex("y")),
      "Compute.RevealTooEarly",
    );
    await chain.advanceTo((await windows(taskId)).challengeEnd + 1);
    for (const audit of audits) {
      const events = await chain.reveal(taskId, audit.auditIndex, audit.verifier);
      assert.equal(eventOf(events, "Revealed").forced, false);
      assert.equal(eventOf(events, "AuditSettled").outcome, "Passed");
    }
    const paid = await closeAndFinalize(taskId);

    const params = await chain.parameters();
    const cost = (PRICE * 6n) / 8n;
    const tax = percentOf(cost, params.jackpotTaxPercent);
    const perAudit = percentOf(cost, params.verifierSharePercent) / 2n;
    assert.equal(big(paid.workerPay), cost - tax - 2n * perAudit);
    assert.equal(big(paid.verifierPay), 2n * perAudit);
    assert.equal(big(paid.refund), PRICE - cost);
    assert.equal((await chain.feeAdjustedFree(worker)) - workerBefore, cost - tax - 2n * perAudit);
    for (const [i, audit] of audits.entries()) {
      assert.equal((await chain.feeAdjustedFree(audit.verifier)) - verifiersBefore[i]!, perAudit);
    }
    assert.equal((await chain.balance(JACKPOT_ACCOUNT)).free - jackpotBefore, tax);
    assert.equal(aliceBefore - (await chain.feeAdjustedFree(alice)), cost);
    assert.equal((await chain.balance(alice.address)).reserved, 0n);
    assert.equal((await chain.task(taskId)).status, "Finalized");
    const node = await chain.node(worker === chain.accounts.bob ? "bob" : "ferdie");
    assert.equal(node?.workerDuties, 0);
  });
});

test("a task without audits finalizes right after the commit; a cancelled task refunds its escrow", async () => {
  await chain.conserving(async () => {
    const { alice } = chain.accounts;
    await chain.fails(
      alice,
      chain.compute("createTask", spec({ checkpointInterval: 9n }), PRICE),
      "Compute.InvalidSpec",
    );
    await chain.fails(alice, chain.compute("createTask", spec(), 0n), "Compute.ZeroAmount");
    const first = await createTask(spec({ verificationLevel: 0 }));
    const second = await createTask(spec());
    await chain.fails(alice, chain.compute("createTask", spec(), PRICE), "Compute.NoEligibleWorker");
    await chain.fails(chain.accounts.bob, chain.compute("cancelTask", second.taskId), "Compute.NotSubmitter");
    const cancelled = eventOf(
      await chain.ok(alice, chain.compute("cancelTask", second.taskId)),
      "TaskCancelled",
    );
    assert.equal(big(cancelled.refund), PRICE);

    await chain.fails(
      first.worker,
      chain.compute("commit", first.taskId, blake2AsHex("r"), 3, 8n, blake2AsHex("s")),
      "Compute.InvalidCommit",
    );
    await commitRun(first.taskId, first.worker, honest, 8n);
    await chain.fails(alice, chain.compute("cancelTask", first.taskId), "Compute.NotCancellable");
    await chain.fails(
      chain.accounts.ferdie,
      chain.compute("selectAudits", first.taskId),
      "Compute.NothingToAudit",
    );
    const paid = eventOf(await chain.ok(alice, chain.compute("finalize", first.taskId)), "TaskFinalized");
    assert.equal(big(paid.refund), 0n);
    assert.equal((await chain.balance(alice.address)).reserved, 0n);
  });
});

test("a task may ask for as many audits as the u8 verification level holds", async () => {
  assert.equal((await chain.parameters()).maxVerificationLevel, 255);
  await chain.conserving(async () => {
    const { taskId } = await createTask(
      spec({ maxSteps: 1_000n, checkpointInterval: 1n, verificationLevel: 255 }),
    );
    await chain.ok(chain.accounts.alice, chain.compute("cancelTask", taskId));
  });
});

test("a worker that misses its commit deadline is slashed and the task goes to another worker", async () => {
  await chain.conserving(async () => {
    const { taskId, worker } = await createTask(spec({ verificationLevel: 0 }));
    await chain.fails(chain.accounts.charlie, chain.compute("reassignTask", taskId), "Compute.TooEarly");
    const task = await chain.task(taskId);
    await chain.advanceTo(num(task.commitDeadline) + 1);
    await chain.fails(
      worker,
      chain.compute("commit", taskId, blake2AsHex("r"), 2, 8n, blake2AsHex("s")),
      "Compute.DeadlinePassed",
    );
    const treasuryBefore = await chain.feeAdjustedFree(chain.accounts.alice);
    const events = await chain.ok(chain.accounts.charlie, chain.compute("reassignTask", taskId));
    const slashed = eventOf(events, "Slashed");
    const params = await chain.parameters();
    assert.equal(slashed.who, worker.address);
    assert.equal(slashed.reason, "Timeout");
    assert.equal(big(slashed.amount), percentOf(WORKER_STAKE, params.timeoutSlashPercent));
    assert.equal(big(slashed.toWinner), 0n);
    assert.equal(
      (await chain.feeAdjustedFree(chain.accounts.alice)) - treasuryBefore,
      big(slashed.toTreasury),
    );
    const next = chain.pairOf(eventOf(events, "WorkerAssigned").worker);
    assert.notEqual(next.address, worker.address);
    await commitRun(taskId, next, honest, 8n);
    await chain.ok(next, chain.compute("finalize", taskId));
    await restoreAll();
  });
});

/** A task committed in full by its worker, past its delivery window. */
async function undeliveredTask(level = 0): Promise<{ taskId: bigint; worker: KeyringPair }> {
  const { taskId, worker } = await createTask(spec({ verificationLevel: level }));
  await commitRun(taskId, worker, honest, 8n);
  const committedAt = num(((await chain.task(taskId)).commitment as Record<string, unknown>).committedAt);
  await chain.fails(
    chain.accounts.alice,
    chain.compute("challengeDelivery", taskId, null),
    "Compute.TooEarly",
  );
  await chain.advanceTo(committedAt + (await chain.parameters()).commitBlocks + 1);
  return { taskId, worker };
}

/** The worker's signed commitment to `model` over its committed root, as the gateway received it. */
function claimOf(taskId: bigint, signer: KeyringPair, model: Hash) {
  const tree = checkpointTree(honest, 8n, big(spec().checkpointInterval));
  const taskRef = `task_${taskId}`;
  const message = commitmentMessage({
    taskId: taskRef,
    checkpointRoot: tree.root.slice(2),
    leafCount: tree.checkpoints,
    modelSha256: model.slice(2),
  });
  return { taskRef: u8aToHex(stringToU8a(taskRef)), model, signature: u8aToHex(signer.sign(message)) };
}

/** A Root call the runtime refuses: the Sudid event carries the module error. */
async function sudoRefused(call: Parameters<ComputeScenario["sudo"]>[0], error: string): Promise<void> {
  const events = await chain.ok(chain.accounts.alice, chain.call("sudo", "sudo", call));
  const result = JSON.stringify(events.find((e) => e.method === "Sudid")?.data.sudoResult);
  assert.ok(result.includes("err"), `${call.method.method} is refused with ${error}`);
}

test("an undelivered commit is challenged; after the worker's round the referee slashes it and the task is re-run", async () => {
  await chain.conserving(async () => {
    const { alice } = chain.accounts;
    const { taskId, worker } = await undeliveredTask(1);
    await chain.fails(alice, chain.compute("reassignTask", taskId), "Compute.WrongTaskStatus");
    await chain.fails(
      chain.accounts.charlie,
      chain.compute("challengeDelivery", taskId, null),
      "Compute.NotSubmitter",
    );
    const params = await chain.parameters();
    const reservedBefore = (await chain.balance(alice.address)).reserved;
    const challenged = eventOf(
      await chain.ok(alice, chain.compute("challengeDelivery", taskId, null)),
      "DeliveryChallenged",
    );
    // The worker's round to republish is not over: the referee cannot rule it undelivered yet.
    await sudoRefused(chain.compute("ruleDelivery", taskId, "Undelivered"), "TooEarly");
    assert.equal(challenged.worker, worker.address);
    assert.equal((await chain.balance(alice.address)).reserved - reservedBefore, params.challengeBond);
    await chain.fails(alice, chain.compute("challengeDelivery", taskId, null), "Compute.AlreadyChallenged");
    await chain.fails(alice, chain.compute("selectAudits", taskId), "Compute.DeliveryUnsettled");
    await chain.fails(alice, chain.compute("cancelTask", taskId), "Compute.DeliveryUnsettled");
    await sudoRefused(chain.compute("ruleDelivery", taskId, "FalseClaim"), "NoClaim");

    await chain.advanceTo(num(challenged.deadline) + 1);
    const submitterBefore = await chain.feeAdjustedFree(alice);
    const ruled = await chain.sudo(chain.compute("ruleDelivery", taskId, "Undelivered"));
    assert.equal(eventOf(ruled, "DeliveryRuled").outcome, "Undelivered");
    const slash = percentOf(WORKER_STAKE, params.fraudSlashPercent);
    const slashed = eventOf(ruled, "Slashed");
    assert.equal(slashed.who, worker.address);
    assert.equal(big(slashed.amount), slash);
    assert.equal(slashed.reason, "Fraud");
    assert.equal((await chain.balance(alice.address)).reserved, reservedBefore, "the bond is back");
    // The submitter won the winner's share and, as treasury, the treasury's.
    assert.equal(
      (await chain.feeAdjustedFree(alice)) - submitterBefore,
      params.challengeBond + big(slashed.toWinner) + big(slashed.toTreasury),
    );
    const next = chain.pairOf(eventOf(ruled, "WorkerAssigned").worker);
    assert.notEqual(next.address, worker.address);
    const task = await chain.task(taskId);
    assert.equal(task.status, "Assigned");
    assert.equal(task.delivery, null);
    assert.ok((task.excluded as string[]).includes(worker.address));
    await chain.ok(alice, chain.compute("cancelTask", taskId));
    await restoreAll();
  });
});

test("a delivered commit: the referee rules at once, the bond pays the worker and the task goes on", async () => {
  await chain.conserving(async () => {
    const { alice } = chain.accounts;
    const { taskId, worker } = await undeliveredTask();
    await chain.ok(alice, chain.compute("challengeDelivery", taskId, null));
    const workerBefore = await chain.feeAdjustedFree(worker);
    const ruled = await chain.sudo(chain.compute("ruleDelivery", taskId, "Delivered"));
    assert.equal(eventsOf(ruled, "Slashed").length, 0);
    assert.equal(
      (await chain.feeAdjustedFree(worker)) - workerBefore,
      (await chain.parameters()).challengeBond,
    );
    assert.equal((await chain.task(taskId)).status, "Committed");
    await chain.fails(alice, chain.compute("challengeDelivery", taskId, null), "Compute.AlreadyChallenged");
    await sudoRefused(chain.compute("ruleDelivery", taskId, "Undelivered"), "NoDeliveryChallenge");
    const paid = eventOf(await chain.ok(alice, chain.compute("finalize", taskId)), "TaskFinalized");
    assert.ok(big(paid.workerPay) > 0n);
  });
});

test("a worker's signed claim to a model that is not its checkpoints' is ruled a false claim at once", async () => {
  await chain.conserving(async () => {
    const { alice } = chain.accounts;
    const { taskId, worker } = await undeliveredTask();
    const swapped = blake2AsHex("not the trained model", 256);
    const forged = claimOf(taskId, chain.accounts.charlie, swapped);
    await chain.fails(alice, chain.compute("challengeDelivery", taskId, forged), "Compute.BadClaim");
    const otherRoot = { ...claimOf(taskId, worker, swapped), model: blake2AsHex("another model", 256) };
    await chain.fails(alice, chain.compute("challengeDelivery", taskId, otherRoot), "Compute.BadClaim");
    const challenged = eventOf(
      await chain.ok(alice, chain.compute("challengeDelivery", taskId, claimOf(taskId, worker, swapped))),
      "DeliveryChallenged",
    );
    assert.equal(challenged.claimedModel, swapped);
    const ruled = await chain.sudo(chain.compute("ruleDelivery", taskId, "FalseClaim"));
    assert.equal(eventOf(ruled, "Slashed").who, worker.address);
    assert.notEqual(eventOf(ruled, "WorkerAssigned").worker, worker.address);
    await chain.ok(alice, chain.compute("cancelTask", taskId));
    await restoreAll();
  });
});

test("a delivery challenge no referee rules lapses: the attempt is void and nobody is slashed", async () => {
  await chain.conserving(async () => {
    const { alice } = chain.accounts;
    const { taskId, worker } = await undeliveredTask();
    const reservedBefore = (await chain.balance(alice.address)).reserved;
    await chain.ok(alice, chain.compute("challengeDelivery", taskId, null));
    const lapsesAfter = num(((await chain.task(taskId)).delivery as Record<string, unknown>).lapsesAfter);
    await chain.fails(chain.accounts.ferdie, chain.compute("closeDelivery", taskId), "Compute.TooEarly");
    await chain.advanceTo(lapsesAfter + 1);
    const closed = await chain.ok(chain.accounts.ferdie, chain.compute("closeDelivery", taskId));
    assert.equal(eventOf(closed, "DeliveryLapsed").worker, worker.address);
    assert.equal(eventsOf(closed, "Slashed").length, 0);
    assert.equal((await chain.balance(alice.address)).reserved, reservedBefore);
    assert.equal((await chain.balance(worker.address)).reserved, WORKER_STAKE);
    const task = await chain.task(taskId);
    assert.equal(task.status, "Assigned");
    assert.notEqual(task.worker, worker.address);
    await chain.ok(alice, chain.compute("cancelTask", taskId));
  });
});

test("after every verifier missed, the task is audited again by others, then cancellable at no cost", async () => {
  await chain.conserving(async () => {
    const { alice } = chain.accounts;
    const { taskId, worker } = await createTask(spec({ verificationLevel: 1 }));
    await commitRun(taskId, worker, honest, 8n);
    const [first] = await selectAudits(taskId);
    assert.ok(first !== undefined);
    await chain.advanceTo((await windows(taskId)).revealEnd + 1);
    await chain.ok(chain.accounts.ferdie, chain.compute("closeAudits", taskId));
    // Slashed below its minimum stake, the silent verifier could not be drawn anyway; the rule
    // that excludes it is tested by it being the other one after its stake is restored.
    const [silentName] = Object.entries(chain.accounts).find(([, pair]) => pair === first.verifier)!;
    await restoreStake(silentName as NodeName, VERIFIER_STAKE);
    const again = eventsOf(await chain.ok(alice, chain.compute("selectAudits", taskId)), "AuditAssigned");
    assert.equal(again.length, 1);
    assert.notEqual(again[0]!.verifier, first.verifier.address);
    await chain.advanceTo((await windows(taskId)).revealEnd + 1);
    await chain.ok(chain.accounts.ferdie, chain.compute("closeAudits", taskId));
    const cancelled = eventOf(await chain.ok(alice, chain.compute("cancelTask", taskId)), "TaskCancelled");
    assert.equal(big(cancelled.refund), PRICE);
    assert.equal((await chain.balance(alice.address)).reserved, 0n);
    await restoreAll();
  });
});

test("a forced error caught by a whistleblower pays the jackpot; an uncaught one changes nothing", async () => {
  await chain.conserving(async () => {
    // Windows long enough for every refused call below, each of which takes a block.
    await chain.setParameters({ forcedErrorPpm: 1_000_000, verdictBlocks: 6, challengeBlocks: 8 });
    await chain.fundJackpot(500n * VT);
    const eve = chain.accounts.eve;
    const { taskId, worker } = await createTask(spec({ checkpointInterval: 4n, verificationLevel: 2 }));
    await commitRun(taskId, worker, honest, 8n);
    const [caught, missed] = await selectAudits(taskId);
    assert.ok(caught !== undefined && missed !== undefined);
    // Forced: a deliberately wrong transcript, with an honest opinion of the worker. The segment's
    // 4 steps are hashed every 2 (the stride capped so that a leaf precedes the end state), and the
    // forced error alters that first leaf: the end state stays the replay's, the opinion consistent.
    const firstLeaf = caught.start + 2n;
    assert.deepEqual(transcriptOf(caught, honest).layout.steps(), [firstLeaf, caught.end]);
    await chain.fails(
      caught.verifier,
      verdictCall(taskId, caught, true, transcriptOf(caught, alteredRun(honest, caught.end))),
      "Compute.InconsistentVerdict",
    );
    await verdict(taskId, caught, true, transcriptOf(caught, alteredRun(honest, firstLeaf)));
    await verdict(taskId, missed, true, transcriptOf(missed, alteredRun(honest, missed.start + 2n)));
    await chain.fails(
      worker,
      chain.compute("challenge", taskId, caught.auditIndex, firstLeaf),
      "Compute.NotEligible",
    );
    for (const notALeaf of [caught.start, caught.start + 1n, caught.end + 1n]) {
      await chain.fails(
        eve,
        chain.compute("challenge", taskId, caught.auditIndex, notALeaf),
        "Compute.InvalidStep",
      );
    }
    const eveBefore = await chain.feeAdjustedFree(eve);
    await chain.ok(eve, chain.compute("challenge", taskId, caught.auditIndex, firstLeaf));
    await chain.fails(
      eve,
      chain.compute("challenge", taskId, caught.auditIndex, firstLeaf),
      "Compute.AlreadyChallenged",
    );
    await chain.advanceTo((await windows(taskId)).challengeEnd + 1);
    const revealed = await chain.reveal(taskId, caught.auditIndex, caught.verifier);
    assert.equal(eventOf(revealed, "Revealed").forced, true);
    const params = await chain.parameters();
    assert.equal(big(eventOf(revealed, "JackpotPaid").amount), params.jackpotPayout);
    assert.equal((await chain.feeAdjustedFree(eve)) - eveBefore, params.jackpotPayout);
    assert.equal((await chain.balance(eve.address)).reserved, WHISTLEBLOWER_STAKE);
    const quiet = await chain.reveal(taskId, missed.auditIndex, missed.verifier);
    assert.equal(eventsOf(quiet, "JackpotPaid").length, 0);
    assert.equal(eventsOf(quiet, "DisputeOpened").length, 0);
    const paid = await closeAndFinalize(taskId);
    assert.ok(big(paid.verifierPay) > 0n, "forced audits are paid like any audit");
    await chain.setParameters({ forcedErrorPpm: 0, verdictBlocks: 3, challengeBlocks: 3 });
  });
});

test("a verdict agrees exactly when its proven end state is the worker's committed leaf", async () => {
  await chain.conserving(async () => {
    // A window long enough for every refused verdict below, each of which takes a block.
    await chain.setParameters({ verdictBlocks: 8 });
    const { taskId, audit } = await auditedTask();
    const replay = transcriptOf(audit, honest);
    const wrong = transcriptOf(audit, forgedRun(GRAPH_NODES, 6n, 0));
    const { verifier } = audit;
    // Agreeing although its own replay ended elsewhere, or disagreeing although it ended in the worker's leaf:
    await chain.fails(verifier, verdictCall(taskId, audit, true, wrong), "Compute.InconsistentVerdict");
    await chain.fails(verifier, verdictCall(taskId, audit, false, replay), "Compute.InconsistentVerdict");
    // Claiming the worker's end state without it being the transcript's last leaf:
    await chain.fails(
      verifier,
      verdictCall(taskId, audit, true, wrong, honest, honest.state(audit.end)),
      "Compute.BadProof",
    );
    // A leaf the worker never committed:
    const forged = forgedRun(GRAPH_NODES, 2n, 0);
    await chain.fails(verifier, verdictCall(taskId, audit, false, replay, forged), "Compute.BadProof");
    const verdictEvents = await chain.ok(verifier, verdictCall(taskId, audit, true, replay));
    assert.equal(eventOf(verdictEvents, "VerdictSubmitted").endState, honest.state(audit.end));
    await chain.advanceTo((await windows(taskId)).challengeEnd + 1);
    await chain.reveal(taskId, audit.auditIndex, verifier);
    await closeAndFinalize(taskId);
    await chain.setParameters({ verdictBlocks: 3 });
  });
});

test("a one-step segment's transcript is its end state alone, so its audit is never a forced error", async () => {
  await chain.conserving(async () => {
    await chain.setParameters({ forcedErrorPpm: 1_000_000 });
    const { taskId, worker } = await createTask(spec({ maxSteps: 2n, checkpointInterval: 1n }));
    await commitRun(taskId, worker, honest, 2n);
    const [audit] = await selectAudits(taskId);
    assert.ok(audit !== undefined);
    assert.equal(transcriptOf(audit, honest).layout.leaves, 1);
    await honestVerdict(taskId, audit);
    await chain.advanceTo((await windows(taskId)).challengeEnd + 1);
    const revealed = await chain.reveal(taskId, audit.auditIndex, audit.verifier);
    assert.equal(eventOf(revealed, "Revealed").forced, false);
    await closeAndFinalize(taskId);
    await chain.setParameters({ forcedErrorPpm: 0 });
  });
});

test("a transcript dispute bisects the strided leaves by proofs, then the steps of one stride window", async () => {
  await chain.conserving(async () => {
    const eve = chain.accounts.eve;
    await chain.setParameters({ transcriptStride: 2 });
    const { taskId, audit } = await auditedTask();
    await chain.setParameters({ transcriptStride: 16 });
    assert.equal(audit.stride, 2n, "the stride is the one recorded when the audits were drawn");
    // Leaves after steps 2, 4, 6 and 8. The verifier's transcript goes wrong at operator 1 of
    // step 5 and is right again at the end, so its verdict is consistent (a forced error looks so).
    const forgedFrom5 = forgedRun(GRAPH_NODES, 5n, 1);
    const wrong: TrainingView = {
      ...forgedFrom5,
      state: (t) => (t >= 7n ? honest.state(t) : forgedFrom5.state(t)),
    };
    await verdict(taskId, audit, true, transcriptOf(audit, wrong));
    await chain.fails(eve, chain.compute("challenge", taskId, audit.auditIndex, 5n), "Compute.InvalidStep");
    await chain.ok(eve, chain.compute("challenge", taskId, audit.auditIndex, 6n));
    const disputeId = big((await openDispute(taskId, audit)).disputeId);
    // Phase 1 asks for leaf 0 (step 2), then leaf 1 (step 4), each with its proof; a proof-less
    // answer at a leaf is refused. Then (4, 6] is one window: step 5 is asked without a proof.
    await chain.ok(
      audit.verifier,
      chain.compute("respond", disputeId, wrong.state(6n), transcriptOf(audit, wrong).proof(6n)),
    );
    await chain.fails(
      audit.verifier,
      chain.compute("respond", disputeId, wrong.state(2n), []),
      "Compute.BadProof",
    );
    await chain.playDispute(
      disputeId,
      { defender: wrong, challenger: honest, truth: honest },
      (d) => d.phase === "Operators",
    );
    const narrowed = await chain.dispute(disputeId);
    assert.equal(
      big(narrowed?.step),
      5n,
      "steps 2 and 4 agreed by proof, step 5 found inside the window (4, 6]",
    );
    await chain.playDispute(disputeId, { defender: wrong, challenger: honest, truth: honest });
    assert.equal(await chain.dispute(disputeId), null);
    const params = await chain.parameters();
    const slash = percentOf(VERIFIER_STAKE, params.fraudSlashPercent);
    assert.equal((await chain.balance(audit.verifier.address)).reserved, VERIFIER_STAKE - slash);
    const paid = await closeAndFinalize(taskId);
    assert.equal(big(paid.verifierPay), 0n);
    await restoreAll();
  });
});

test("a worker that commits a forged run loses the pinpoint game, is slashed, and the task is re-run", async () => {
  await chain.conserving(async () => {
    const forged = forgedRun(GRAPH_NODES, 3n, 2);
    const { taskId, worker, audit } = await auditedTask(forged);
    await honestVerdict(taskId, audit, honest, forged);
    const opened = await openDispute(taskId, audit);
    assert.equal(opened.kind, "Commitment");
    const disputeId = big(opened.disputeId);
    const verifierBefore = await chain.feeAdjustedFree(audit.verifier);

    await chain.fails(audit.verifier, chain.compute("bisect", disputeId, true), "Compute.NotYourTurn");
    await chain.fails(worker, chain.compute("respond", disputeId, forged.state(8n), []), "Compute.BadProof");
    await chain.playDispute(
      disputeId,
      { defender: forged, challenger: honest, truth: honest },
      (d) => d.phase === "Claim",
    );
    const narrowed = await chain.dispute(disputeId);
    assert.equal(big(narrowed?.step), 3n, "phase 1 found the first forged step");
    assert.equal(big(narrowed?.lo), 2n, "phase 2 found the first forged operator");
    await chain.fails(
      worker,
      chain.compute("respond", disputeId, honest.output(3n, 2), []),
      "Compute.InconsistentClaim",
    );
    await chain.playDispute(disputeId, { defender: forged, challenger: honest, truth: honest });

    assert.equal(await chain.dispute(disputeId), null);
    const task = await chain.task(taskId);
    assert.equal(task.status, "Assigned");
    assert.equal(num(task.attempt), 1);
    assert.notEqual(task.worker, worker.address);
    const params = await chain.parameters();
    const slash = percentOf(WORKER_STAKE, params.fraudSlashPercent);
    assert.equal((await chain.balance(worker.address)).reserved, WORKER_STAKE - slash);
    assert.equal(
      (await chain.feeAdjustedFree(audit.verifier)) - verifierBefore,
      percentOf(slash, params.winnerSharePercent),
    );

    const rerun = chain.pairOf(task.worker);
    await commitRun(taskId, rerun, honest, 8n);
    const [second] = await selectAudits(taskId);
    assert.ok(second !== undefined);
    await honestVerdict(taskId, second);
    await chain.advanceTo((await windows(taskId)).challengeEnd + 1);
    await chain.reveal(taskId, second.auditIndex, second.verifier);
    const paid = await closeAndFinalize(taskId);
    assert.equal(big(paid.refund), 0n);
    await restoreAll();
  });
});

test("a verifier that accuses an honest worker loses the game, is slashed and not paid", async () => {
  await chain.conserving(async () => {
    const mistaken = forgedRun(GRAPH_NODES, 6n, 4);
    const { taskId, worker, audit } = await auditedTask();
    await honestVerdict(taskId, audit, mistaken);
    const disputeId = big((await openDispute(taskId, audit)).disputeId);
    const workerBefore = await chain.feeAdjustedFree(worker);
    await chain.playDispute(disputeId, { defender: honest, challenger: mistaken, truth: honest });
    const params = await chain.parameters();
    const slash = percentOf(VERIFIER_STAKE, params.fraudSlashPercent);
    assert.equal((await chain.balance(audit.verifier.address)).reserved, VERIFIER_STAKE - slash);
    assert.equal(
      (await chain.feeAdjustedFree(worker)) - workerBefore,
      percentOf(slash, params.winnerSharePercent),
    );
    const paid = await closeAndFinalize(taskId);
    assert.equal(big(paid.verifierPay), 0n);
    assert.equal(big(paid.refund), percentOf(PRICE, params.verifierSharePercent));
    await restoreAll();
  });
});

test("a challenger that stops answering loses the dispute at its deadline", async () => {
  await chain.conserving(async () => {
    const mistaken = forgedRun(GRAPH_NODES, 1n, 0);
    const { taskId, worker, audit } = await auditedTask();
    await honestVerdict(taskId, audit, mistaken);
    const disputeId = big((await openDispute(taskId, audit)).disputeId);
    await chain.playDispute(
      disputeId,
      { defender: honest, challenger: mistaken, truth: honest },
      (d) => d.turn === "Challenger",
    );
    await chain.fails(chain.accounts.eve, chain.compute("claimTimeout", disputeId), "Compute.TooEarly");
    await chain.advanceTo(num((await chain.dispute(disputeId))?.deadline) + 1);
    await chain.fails(audit.verifier, chain.compute("bisect", disputeId, false), "Compute.DeadlinePassed");
    const resolved = eventOf(
      await chain.ok(chain.accounts.eve, chain.compute("claimTimeout", disputeId)),
      "DisputeResolved",
    );
    assert.equal(resolved.by, "Timeout");
    assert.equal(resolved.winner, worker.address);
    await closeAndFinalize(taskId);
    await restoreAll();
  });
});

test("a lazy verifier caught by a whistleblower cannot prove its transcript and is slashed", async () => {
  await chain.conserving(async () => {
    const eve = chain.accounts.eve;
    const { taskId, audit } = await auditedTask();
    // Without replaying, it claims the worker's end state after every step: consistent, but wrong.
    await verdict(taskId, audit, true, transcriptOf(audit, lazyRun(honest, audit.end)));
    const eveBefore = await chain.feeAdjustedFree(eve);
    await chain.ok(eve, chain.compute("challenge", taskId, audit.auditIndex, 4n));
    const opened = await openDispute(taskId, audit);
    assert.equal(opened.kind, "Transcript");
    const disputeId = big(opened.disputeId);
    const proof = transcriptOf(audit, honest).proof(4n);
    await chain.fails(
      audit.verifier,
      chain.compute("respond", disputeId, honest.state(4n), proof),
      "Compute.BadProof",
    );
    const oversized = Array.from({ length: 65 }, () => honest.state(1n));
    await chain.fails(
      audit.verifier,
      chain.compute("respond", disputeId, honest.state(4n), oversized),
      "Compute.BadProof",
    );
    await chain.advanceTo(num((await chain.dispute(disputeId))?.deadline) + 1);
    const resolved = eventOf(
      await chain.ok(eve, chain.compute("claimTimeout", disputeId)),
      "DisputeResolved",
    );
    assert.equal(resolved.winner, eve.address);
    const params = await chain.parameters();
    const slash = percentOf(VERIFIER_STAKE, params.fraudSlashPercent);
    assert.equal((await chain.feeAdjustedFree(eve)) - eveBefore, percentOf(slash, params.winnerSharePercent));
    assert.equal((await chain.balance(eve.address)).reserved, WHISTLEBLOWER_STAKE);
    const paid = await closeAndFinalize(taskId);
    assert.equal(big(paid.verifierPay), 0n);
    await restoreAll();
  });
});

test("a whistleblower that challenges an honest transcript loses its bond to the verifier", async () => {
  await chain.conserving(async () => {
    const eve = chain.accounts.eve;
    const mistaken = forgedRun(GRAPH_NODES, 5n, 1);
    const { taskId, audit } = await auditedTask();
    await honestVerdict(taskId, audit);
    const eveBefore = await chain.feeAdjustedFree(eve);
    await chain.ok(eve, chain.compute("challenge", taskId, audit.auditIndex, 8n));
    const disputeId = big((await openDispute(taskId, audit)).disputeId);
    const verifierBefore = await chain.feeAdjustedFree(audit.verifier);
    await chain.playDispute(disputeId, { defender: honest, challenger: mistaken, truth: honest });
    const params = await chain.parameters();
    assert.equal(eveBefore - (await chain.feeAdjustedFree(eve)), params.challengeBond);
    assert.equal((await chain.balance(eve.address)).reserved, WHISTLEBLOWER_STAKE);
    assert.equal(
      (await chain.feeAdjustedFree(audit.verifier)) - verifierBefore,
      percentOf(params.challengeBond, params.winnerSharePercent),
    );
    const paid = await closeAndFinalize(taskId);
    assert.ok(big(paid.verifierPay) > 0n);
  });
});

test("verifiers that miss the verdict or the reveal are slashed for the timeout and not paid", async () => {
  await chain.conserving(async () => {
    const { taskId, worker } = await createTask(spec({ checkpointInterval: 4n, verificationLevel: 2 }));
    await commitRun(taskId, worker, honest, 8n);
    const [silent, unrevealed] = await selectAudits(taskId);
    assert.ok(silent !== undefined && unrevealed !== undefined);
    await honestVerdict(taskId, unrevealed);
    await chain.advanceTo((await windows(taskId)).challengeEnd + 1);
    await chain.fails(
      silent.verifier,
      verdictCall(taskId, silent, true, transcriptOf(silent, honest)),
      "Compute.DeadlinePassed",
    );
    await chain.fails(chain.accounts.ferdie, chain.compute("closeAudits", taskId), "Compute.TooEarly");
    await chain.advanceTo((await windows(taskId)).revealEnd + 1);
    const events = await chain.ok(chain.accounts.ferdie, chain.compute("closeAudits", taskId));
    const slashed = eventsOf(events, "Slashed");
    assert.deepEqual(
      slashed.map((s) => [s.who, s.reason]),
      [
        [silent.verifier.address, "Timeout"],
        [unrevealed.verifier.address, "Timeout"],
      ],
    );
    const paid = eventOf(
      await chain.ok(chain.accounts.ferdie, chain.compute("finalize", taskId)),
      "TaskFinalized",
    );
    assert.equal(big(paid.verifierPay), 0n);
    await restoreAll();
  });
});

test("a task's profile binds its later workers and its verifiers; a node cannot unbond what its duties need", async () => {
  await chain.conserving(async () => {
    const { alice, bob, ferdie, grace } = chain.accounts;
    const workerOnly = { worker: true, verifier: false, whistleblower: false };
    await chain.register("grace", workerOnly, WORKER_STAKE, GRACE_PROFILE);
    // A task demanding Grace's profile can only go to her.
    const demanded = await createTask(spec({ profile: GRACE_PROFILE, verificationLevel: 0 }));
    assert.equal(demanded.worker.address, grace.address);
    // Her whole bond backs the open task (capacity by stake, §3): none of it may leave meanwhile.
    await chain.fails(grace, chain.compute("unbond", 10n * VT), "Compute.InsufficientBond");
    await chain.ok(alice, chain.compute("cancelTask", demanded.taskId));
    await chain.ok(grace, chain.compute("unbond", 10n * VT));
    await chain.advanceTo(num((await chain.node("grace"))?.unlockAt));
    await chain.ok(grace, chain.compute("withdrawUnbonded"));

    // Below her minimum stake, Grace is not drawn while Bob and Ferdie take a task each; bonded
    // again, she is the only free worker, and a task that names no profile takes hers.
    const busy = [
      await createTask(spec({ verificationLevel: 0 })),
      await createTask(spec({ verificationLevel: 0 })),
    ];
    assert.deepEqual(busy.map((b) => b.worker.address).sort(), [bob.address, ferdie.address].sort());
    await chain.ok(grace, chain.compute("bondExtra", 10n * VT));
    const { taskId, worker } = await createTask(spec());
    assert.equal(worker.address, grace.address);
    assert.equal((await chain.task(taskId)).profile, GRACE_PROFILE);
    for (const b of busy) await chain.ok(alice, chain.compute("cancelTask", b.taskId));
    // Only a node of her profile replays her checkpoints bit for bit: Charlie and Dave may not audit them,
    await commitRun(taskId, worker, honest, 8n);
    const committedAt = num(((await chain.task(taskId)).commitment as Record<string, unknown>).committedAt);
    await chain.advanceTo(committedAt + 1);
    await chain.fails(alice, chain.compute("selectAudits", taskId), "Compute.NoEligibleVerifier");
    // and only one can resume from them: voided, the task waits for a free worker of her profile.
    await chain.advanceTo(committedAt + (await chain.parameters()).commitBlocks + 1);
    await chain.ok(alice, chain.compute("challengeDelivery", taskId, null));
    await chain.advanceTo(
      num(((await chain.task(taskId)).delivery as Record<string, unknown>).lapsesAfter) + 1,
    );
    const voided = await chain.ok(alice, chain.compute("closeDelivery", taskId));
    assert.equal(eventOf(voided, "TaskUnassigned").taskId, Number(taskId));
    assert.equal(eventsOf(voided, "WorkerAssigned").length, 0, "Bob and Ferdie are free, of another profile");
    await chain.ok(alice, chain.compute("reassignTask", taskId));
    assert.equal((await chain.task(taskId)).status, "Unassigned");
    await chain.ok(alice, chain.compute("cancelTask", taskId));

    await chain.ok(grace, chain.compute("unbond", WORKER_STAKE));
    await chain.advanceTo(num((await chain.node("grace"))?.unlockAt));
    await chain.ok(grace, chain.compute("withdrawUnbonded"));
    await chain.ok(grace, chain.compute("deregister"));
  });
});

test("when the worker loses, the attempt's other disputes and challenges end without a loser", async () => {
  await chain.conserving(async () => {
    const { eve } = chain.accounts;
    await chain.register("grace", { worker: false, verifier: true, whistleblower: false }, VERIFIER_STAKE);
    await chain.setParameters({ revealBlocks: 30 });
    const forged = forgedRun(GRAPH_NODES, 1n, 0);
    const { taskId, worker } = await createTask(
      spec({ maxSteps: 6n, checkpointInterval: 2n, verificationLevel: 3 }),
    );
    await commitRun(taskId, worker, forged, 6n);
    const [accusing, lazy, pending] = await selectAudits(taskId);
    assert.ok(accusing !== undefined && lazy !== undefined && pending !== undefined);
    await honestVerdict(taskId, accusing, honest, forged);
    await verdict(taskId, lazy, true, transcriptOf(lazy, lazyRun(forged, lazy.end)), forged);
    await honestVerdict(taskId, pending, forged, forged);
    const eveBefore = await chain.feeAdjustedFree(eve);
    await chain.ok(eve, chain.compute("challenge", taskId, lazy.auditIndex, lazy.end));
    await chain.ok(eve, chain.compute("challenge", taskId, pending.auditIndex, pending.end));
    await chain.advanceTo((await windows(taskId)).challengeEnd + 1);
    const transcriptDispute = big(
      eventOf(await chain.reveal(taskId, lazy.auditIndex, lazy.verifier), "DisputeOpened").disputeId,
    );
    const commitmentDispute = big(
      eventOf(await chain.reveal(taskId, accusing.auditIndex, accusing.verifier), "DisputeOpened").disputeId,
    );
    await chain.playDispute(commitmentDispute, { defender: forged, challenger: honest, truth: honest });

    assert.equal(await chain.dispute(transcriptDispute), null, "the transcript dispute was aborted");
    const task = await chain.task(taskId);
    assert.equal(task.status, "Assigned");
    assert.deepEqual(task.audits, []);
    assert.equal((await chain.balance(eve.address)).reserved, WHISTLEBLOWER_STAKE, "both bonds are back");
    assert.equal(await chain.feeAdjustedFree(eve), eveBefore);
    for (const name of ["charlie", "dave", "eve", "grace"] as const) {
      const node = await chain.node(name);
      assert.equal(num(node?.verifierDuties) + num(node?.whistleblowerDuties), 0, `${name} has no open duty`);
    }
    await chain.ok(chain.accounts.alice, chain.compute("cancelTask", taskId));
    await chain.setParameters({ revealBlocks: 5 });
    await restoreAll();
  });
});
