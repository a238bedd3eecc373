// The verification driver's part in a dispute, against the real dev chain, Postgres and Redis: a
// verifier disagrees with a worker's commitment and the worker never answers the commitment
// dispute. The driver claims the timeout: the worker is slashed, its attempt void; the driver
// tells the user in words, drops the checkpoints no audit vouches for (the platform's leaf 0
// stays), puts the job back to training and queues it for the worker the chain drew next. A job
// cancelled while disputed costs nothing, and its escrow is released once the dispute ends.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import {
  type EventWatcher,
  type ForcedErrorSecret,
  type NodeChainClient,
  newForcedErrorSecret,
  readTask,
  setProtocolParameters,
} from "../../chain-bridge/index.ts";
import { merkleInclusionProof, merkleRoot } from "../../protocol/merkle.ts";
import { TranscriptLayout } from "../../protocol/transcript.ts";
import {
  type BridgeFixture,
  sealBlocks,
  stakedNode,
  startBridgeFixture,
} from "../../test/support/chain-fixture.ts";
import { type DriverRig, driverRig, escrowedJob } from "../../test/support/verification-driver.ts";
import type { JobSettlement } from "./job-settlement.ts";
import type { Ledger } from "./ledger.ts";
import type { VerificationDriver } from "./verification.ts";

const ROUND_BLOCKS = 4;
let fixture: BridgeFixture;
let rig: DriverRig;
let driver: VerificationDriver;
let settlement: JobSettlement;
let ledger: Ledger;
let watcher: EventWatcher;
/** Every staked worker by address: the chain draws one for each task. */
const workers = new Map<string, NodeChainClient>();
let verifier: NodeChainClient;
/** The verifier's current forced-error secret: each reveal replaces it. */
let verifierSecret: ForcedErrorSecret;

const hash = () => `0x${randomBytes(32).toString("hex")}`;
const bytes = (hex: string) => Buffer.from(hex.slice(2), "hex");
const rootOf = (leaves: string[]) => `0x${Buffer.from(merkleRoot(leaves.map(bytes))).toString("hex")}`;
const proofOf = (leaves: string[], index: number) =>
  merkleInclusionProof(leaves.map(bytes), index).map((node) => `0x${Buffer.from(node).toString("hex")}`);

before(async () => {
  fixture = await startBridgeFixture();
  await setProtocolParameters(fixture.devnet.wsUrl, "//Alice", {
    commitBlocks: 1_000,
    auditDelayBlocks: 1,
    verdictBlocks: 6,
    challengeBlocks: 1,
    revealBlocks: 6,
    roundBlocks: ROUND_BLOCKS,
    forcedErrorPpm: 0,
  });
  rig = driverRig(fixture, (error) => console.error(error));
  ({ driver, settlement, ledger } = rig);
  const { db } = fixture.database;
  for (const seed of ["//Bob", "//Dave", "//Eve"]) {
    const worker = await stakedNode(fixture.chain, seed, { worker: true });
    workers.set(worker.address, worker);
  }
  verifierSecret = newForcedErrorSecret();
  verifier = await stakedNode(
    fixture.chain,
    "//Charlie",
    { verifier: true },
    2_000n,
    verifierSecret.commitment,
  );
  // The fixture's own job has no files: out of the dispatcher's line.
  await db.trainingJob.update({ where: { id: fixture.jobId }, data: { status: "cancelled" } });
  watcher = await fixture.bridge.watch();
});

after(async () => {
  await rig.close();
  await watcher.stop();
  await Promise.all([...workers.values(), verifier].map((node) => node.close()));
  await fixture.stop();
});

/**
 * A paid-for job whose worker committed ten steps in two segments (the checkpoints the gateway
 * stored are the committed leaves) and whose audit's verifier disagreed: a commitment dispute is
 * open, and the worker will never answer it.
 */
async function disputedJob() {
  const { db } = fixture.database;
  const { jobId, taskId, organizationId, escrow } = await escrowedJob(fixture, ledger);
  const cheat = workers.get(escrow.worker!)!;
  const leaves = [hash(), hash(), hash()];
  await db.checkpoint.createMany({
    data: leaves.map((leaf, i) => ({ taskId, step: i * 5, sha256: leaf.slice(2), sizeBytes: 1n })),
  });
  const committed = await cheat.commit({
    chainTaskId: escrow.chainTaskId,
    checkpoints: 3,
    steps: 10n,
    root: rootOf(leaves),
    result: leaves[2]!,
  });
  assert.equal(committed.status, "succeeded", committed.error ?? undefined);
  // What the gateway does when the model arrives.
  await db.trainingJob.update({ where: { id: jobId }, data: { status: "verifying" } });
  await db.jobEvent.create({ data: { jobId, type: "training.completed", data: {} } });

  await rig.driveUntil(
    async () => (await fixture.bridge.taskState(taskId)).status === "Auditing",
    "audits drawn",
  );
  const audited = await fixture.bridge.taskState(taskId);
  const audit = audited.audits[0]!;
  assert.equal(audit.verifier, verifier.address);
  // The verifier's replay ends elsewhere than the worker's leaf: it disagrees, consistently.
  const start = BigInt(audit.segment * 5);
  const layout = new TranscriptLayout(start, start + 5n, BigInt(audited.transcriptStride));
  const transcript = Array.from({ length: layout.leaves }, hash);
  const verdict = await verifier.submitVerdict({
    chainTaskId: escrow.chainTaskId,
    auditIndex: 0,
    agrees: false,
    transcript: rootOf(transcript),
    endState: transcript.at(-1)!,
    endStateProof: proofOf(transcript, layout.leaves - 1),
    leaf: leaves[audit.segment + 1]!,
    leafProof: proofOf(leaves, audit.segment + 1),
  });
  assert.equal(verdict.status, "succeeded", verdict.error ?? undefined);
  while ((await verifier.head()) <= audited.challengeEnd) await sealBlocks(fixture.chain, 1);
  const next = newForcedErrorSecret();
  const revealed = await verifier.reveal({
    chainTaskId: escrow.chainTaskId,
    auditIndex: 0,
    secret: verifierSecret.secret,
    nextCommitment: next.commitment,
  });
  assert.equal(revealed.status, "succeeded", revealed.error ?? undefined);
  verifierSecret = next;
  assert.equal((await fixture.bridge.taskState(taskId)).disputes.length, 1, "a commitment dispute is open");
  return { jobId, taskId, chainTaskId: escrow.chainTaskId, cheat, organizationId };
}

test("a worker that stalls its commitment dispute loses it by timeout, and the job is trained again", async () => {
  const { db } = fixture.database;
  const { jobId, taskId, chainTaskId, cheat } = await disputedJob();
  await rig.driveUntil(
    async () => (await db.jobEvent.count({ where: { jobId, type: "training.rerun" } })) > 0,
    "the job trained again",
  );

  const resolved = await db.chainEvent.findFirstOrThrow({ where: { name: "DisputeResolved" } });
  assert.equal((resolved.data as { loser: string }).loser, cheat.address);
  const slashed = await db.chainEvent.findMany({ where: { name: "Slashed" } });
  assert.ok(slashed.some((event) => (event.data as { who: string }).who === cheat.address));
  const events = await db.jobEvent.findMany({ where: { jobId }, orderBy: { id: "asc" } });
  const disputed = events.find((event) => event.type === "verification.disputed")!;
  assert.deepEqual((disputed.data as { challenger: unknown }).challenger, {
    role: "verifier",
    address: verifier.address,
  });
  const proven = events.find((event) => event.type === "verification.fraud_proven")!;
  assert.deepEqual((proven.data as { loser: unknown }).loser, { role: "worker", address: cheat.address });
  assert.equal((proven.data as { decided_by: string }).decided_by, "timeout");
  assert.ok(!JSON.stringify(events.map((event) => event.data)).match(/planck|VT\b|token/i), "no tokens");
  // Leaf 1 ends segment 0, which no audit passed: everything from it is dropped, leaf 0 stays.
  const kept = await db.checkpoint.findMany({ where: { taskId } });
  assert.deepEqual(
    kept.map((c) => c.step),
    [0],
  );
  const task = await readTask(fixture.chain.api, chainTaskId);
  assert.equal(task?.status, "Assigned");
  assert.notEqual(task?.worker, cheat.address);
  const rerun = events.find((event) => event.type === "training.rerun")!;
  assert.equal((rerun.data as { worker: string }).worker, task?.worker);
  assert.equal((rerun.data as { resumes_from_step: number }).resumes_from_step, 0);
  assert.equal((await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } })).status, "running");
  // Driving again changes nothing: every event and consequence is recorded once.
  await driver.tick();
  assert.equal(await db.jobEvent.count({ where: { jobId } }), events.length);

  // The user cancels the re-run (queued or running: the ordinary cancel); its escrow returns.
  const job = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
  assert.equal(await settlement.cancel(job), true);
  await rig.driveUntil(
    async () => (await readTask(fixture.chain.api, chainTaskId))?.status === "Cancelled",
    "the re-run's escrow released",
  );
});

test("a job cancelled while disputed costs nothing, and its escrow is released once the dispute ends", async () => {
  const { db } = fixture.database;
  const { jobId, chainTaskId, cheat, organizationId } = await disputedJob();
  const job = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
  assert.equal(await settlement.cancel(job), true);
  const cancelled = await db.trainingJob.findUniqueOrThrow({ where: { id: jobId } });
  assert.equal(cancelled.status, "cancelled");
  assert.equal(cancelled.chargedCents, 0n);
  assert.equal((await ledger.balance(organizationId)).reserved_cents, 0);

  // The dispute goes on without the job: the driver claims the stalled worker's timeout, the
  // chain re-assigns the task, and the driver cancels it before anyone trains it.
  await rig.driveUntil(
    async () => (await readTask(fixture.chain.api, chainTaskId))?.status === "Cancelled",
    "the disputed job's escrow released",
  );
  const resolved = await db.chainEvent.findMany({ where: { name: "DisputeResolved" } });
  assert.ok(resolved.some((event) => (event.data as { loser: string }).loser === cheat.address));
  const types = (await db.jobEvent.findMany({ where: { jobId } })).map((event) => event.type);
  assert.ok(!types.includes("training.rerun"), "a cancelled job is not trained again");
});
