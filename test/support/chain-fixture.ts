// Shared set-up of the bridge's tests: the dev chain in-process, a database schema of their own,
// the operator's bridge, a training job row for tasks to belong to, and staked nodes to take the work.
import { randomBytes } from "node:crypto";
import type { ApiPromise } from "@polkadot/api";
import { newId } from "../../api/ids.ts";
import { type Devnet, startDevnet } from "../../chain/index.ts";
import { JACKPOT_ACCOUNT } from "../../chain/runtime/pallets/compute-stake.ts";
import { ChainBridge, type TaskSpecInput } from "../../chain-bridge/bridge.ts";
import { computeCall, readBalance, type TaskView } from "../../chain-bridge/compute-state.ts";
import { type ChainConnection, connectChain } from "../../chain-bridge/connection.ts";
import { PLANCK_PER_VT } from "../../chain-bridge/conversion.ts";
import { type DisputeView, readOpenDisputes } from "../../chain-bridge/dispute-state.ts";
import { newForcedErrorSecret } from "../../chain-bridge/forced-errors.ts";
import { NodeChainClient, type NodeRoles, type VerdictSubmission } from "../../chain-bridge/node-client.ts";
import { signerFromSeed } from "../../chain-bridge/signer.ts";
import { type Extrinsic, Submitter } from "../../chain-bridge/submitter.ts";
import { MemoryTransactionStore, type TxRecord } from "../../chain-bridge/transaction-store.ts";
import { merkleInclusionProof, merkleRoot } from "../../protocol/merkle.ts";
import { TranscriptLayout } from "../../protocol/transcript.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";

export interface ChainFixture {
  devnet: Devnet;
  chain: ChainConnection;
  database: TestDatabase;
  stop(): Promise<void>;
}

export async function startChainFixture(
  options: { blockTimeMs?: number; manualSeal?: boolean; dataDir?: string } = {},
): Promise<ChainFixture> {
  const devnet = await startDevnet({ port: 0, ...options });
  const [chain, database] = await Promise.all([connectChain(devnet.wsUrl), createTestDatabase()]);
  return {
    devnet,
    chain,
    database,
    async stop() {
      await chain.close();
      await devnet.stop();
      await database.drop();
    },
  };
}

export interface BridgeFixture extends ChainFixture {
  /** The operator's bridge, signing as //Alice (the dev chain's treasury). */
  bridge: ChainBridge;
  /** A training job row for the tests' tasks to belong to. */
  jobId: string;
}

/** What the bridge's own tests start from: a chain fixture, the operator's bridge and a job. */
export async function startBridgeFixture(tokenUsdRate = "0.01"): Promise<BridgeFixture> {
  const fixture = await startChainFixture();
  try {
    const bridge = await ChainBridge.create({
      api: fixture.chain.api,
      db: fixture.database.db,
      operatorSeed: "//Alice",
      tokenUsdRate,
    });
    return { ...fixture, bridge, jobId: await seedJob(fixture.database) };
  } catch (error) {
    await fixture.stop();
    throw error;
  }
}

/**
 * A task with one audit to do: the bridge opens its escrow and `worker` (the only eligible worker)
 * commits 10 steps in 3 checkpoints (random leaves). Returns the commit and its leaves too, for
 * tests that repeat it or prove a leaf.
 */
export async function committedTask(fixture: BridgeFixture, worker: NodeChainClient, usdCents: bigint) {
  const taskId = newId("task");
  const escrow = await fixture.bridge.openEscrow({
    taskId,
    jobId: fixture.jobId,
    usdCents,
    spec: sampleSpec({ verificationLevel: 1 }),
  });
  const leaves = [hash(), hash(), hash()];
  const root = `0x${Buffer.from(merkleRoot(leaves.map(bytes))).toString("hex")}`;
  const commit = { chainTaskId: escrow.chainTaskId, checkpoints: 3, steps: 10n, root, result: leaves[2]! };
  await worker.commit(commit);
  return { taskId, escrow, commit, leaves };
}

const bytes = (hex: string) => Buffer.from(hex.slice(2), "hex");
const proofOf = (leaves: string[], index: number) =>
  merkleInclusionProof(leaves.map(bytes), index).map((node) => `0x${Buffer.from(node).toString("hex")}`);

/**
 * An agreeing verdict on an audit of a committedTask, consistent as the chain checks it: a
 * transcript (strided as the task records) whose last leaf is the worker's leaf for the segment's end.
 */
export function agreeingVerdict(task: TaskView, auditIndex: number, leaves: string[]): VerdictSubmission {
  const { checkpointInterval, maxSteps } = sampleSpec();
  const segment = task.audits[auditIndex]!.segment;
  const start = BigInt(segment) * checkpointInterval;
  const end = start + checkpointInterval < maxSteps ? start + checkpointInterval : maxSteps;
  const layout = new TranscriptLayout(start, end, BigInt(task.transcriptStride));
  const leaf = leaves[segment + 1]!;
  const transcript = [...Array.from({ length: layout.leaves - 1 }, hash), leaf];
  return {
    agrees: true,
    transcript: `0x${Buffer.from(merkleRoot(transcript.map(bytes))).toString("hex")}`,
    endState: leaf,
    endStateProof: proofOf(transcript, layout.leaves - 1),
    leaf,
    leafProof: proofOf(leaves, segment + 1),
  };
}

const hash = () => `0x${randomBytes(32).toString("hex")}`;

/** An organization and a training job for tasks to hang off. */
export async function seedJob(database: TestDatabase): Promise<string> {
  const organizationId = newId("org");
  const jobId = newId("job");
  await database.db.organization.create({ data: { id: organizationId, name: "bridge tests" } });
  await database.db.trainingJob.create({
    data: {
      id: jobId,
      organizationId,
      modelFileId: newId("file"),
      datasetFileId: newId("file"),
      spec: {},
      verificationLevel: "standard",
      quotedCents: 500n,
      reservedCents: 500n,
      flopsPerStep: 1_000n,
      totalSteps: 10,
    },
  });
  return jobId;
}

export function sampleSpec(overrides: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return {
    modelSha256: hash(),
    datasetSha256: hash(),
    specSha256: hash(),
    profile: null,
    maxSteps: 10n,
    checkpointInterval: 5n,
    graphNodes: 12,
    verificationLevel: 0,
    ...overrides,
  };
}

export const PROFILE = `0x${"11".repeat(32)}`;

/**
 * A node staked with `vt` VT in the given roles, signing with `seed`; `commitment` is its
 * forced-error commitment, for a test that reveals the secret behind it.
 */
export async function stakedNode(
  chain: ChainConnection,
  seed: string,
  roles: Partial<NodeRoles>,
  vt = 2_000n,
  commitment = newForcedErrorSecret().commitment,
): Promise<NodeChainClient> {
  const node = await NodeChainClient.create(chain.api, seed);
  await node.register({
    roles: { worker: false, verifier: false, whistleblower: false, ...roles },
    profile: PROFILE,
    commitment,
    bond: vt * PLANCK_PER_VT,
  });
  return node;
}

/**
 * //Bob staked as a worker and //Charlie as a verifier bonded for `verifierVt`, with the
 * verifier's forced-error secret (its commitment is the one registered).
 */
export async function workerAndVerifier(chain: ChainConnection, verifierVt = 600n) {
  const worker = await stakedNode(chain, "//Bob", { worker: true });
  const secret = newForcedErrorSecret();
  const verifier = await stakedNode(chain, "//Charlie", { verifier: true }, verifierVt, secret.commitment);
  return { worker, verifier, secret };
}

/** Seals `count` blocks (a remark by //Dave each) so that deadlines pass. */
export async function sealBlocks(chain: ChainConnection, count: number): Promise<void> {
  const dave = new Submitter(chain.api, await signerFromSeed("//Dave"), new MemoryTransactionStore());
  for (let i = 0; i < count; i++) {
    await dave.submit(
      { causeKey: `advance:${Date.now()}:${i}`, purpose: "System.remark" },
      chain.api.tx.system!.remark!("0x00"),
    );
  }
}

/** A call of the Compute pallet, for tests that drive the chain below the bridge. */
export { computeCall };

/** Submits `call` signed by `seed` (its own submission queue) and waits for its inclusion. */
export async function submitAs(
  api: ApiPromise,
  seed: string,
  purpose: string,
  call: Extrinsic,
): Promise<TxRecord> {
  const submitter = new Submitter(api, await signerFromSeed(seed), new MemoryTransactionStore());
  return submitter.submit({ causeKey: `${purpose}:${Date.now()}:${Math.random()}`, purpose }, call);
}

/**
 * A commitment dispute on the dev chain (PROTOCOL.md §5.7), over synthetic leaves: `worker` and
 * `verifier` (the only nodes of their roles for `profile`) stake, //Alice creates a 4-step task of
 * one segment, the worker commits it, and the verifier's disagreeing verdict opens the dispute at
 * its reveal. Set challenge_blocks small and round_blocks long enough for the test first.
 */
export async function openCommitmentDispute(
  chain: ChainConnection,
  workerSeed: string,
  verifierSeed: string,
  profile: string,
): Promise<{
  dispute: DisputeView;
  worker: NodeChainClient;
  verifier: NodeChainClient;
  /** The verifier's transcript leaves (0x hex), whose root its verdict carries. */
  transcript: string[];
}> {
  const secret = newForcedErrorSecret();
  const [worker, verifier] = await Promise.all([
    NodeChainClient.create(chain.api, workerSeed),
    NodeChainClient.create(chain.api, verifierSeed),
  ]);
  const register = (node: NodeChainClient, roles: Partial<NodeRoles>, commitment: string) =>
    node.register({
      roles: { worker: false, verifier: false, whistleblower: false, ...roles },
      profile,
      commitment,
      bond: 2_000n * PLANCK_PER_VT,
    });
  await register(worker, { worker: true }, newForcedErrorSecret().commitment);
  await register(verifier, { verifier: true }, secret.commitment);
  const chainTaskId = BigInt((await chain.api.query.compute!.nextTaskId!()).toPrimitive() as number);
  const created = await submitAs(
    chain.api,
    "//Alice",
    "Compute.create_task",
    computeCall(chain.api, "createTask")(
      {
        modelHash: hash(),
        datasetHash: hash(),
        specHash: hash(),
        profile,
        maxSteps: 4,
        checkpointInterval: 4,
        graphNodes: 12,
        verificationLevel: 1,
      },
      10n * PLANCK_PER_VT,
    ),
  );
  if (created.status !== "succeeded") throw new Error(`create_task failed: ${created.error}`);
  const leaves = [hash(), hash()];
  const root = `0x${Buffer.from(merkleRoot(leaves.map(bytes))).toString("hex")}`;
  await worker.commit({ chainTaskId, root, checkpoints: 2, steps: 4n, result: leaves[1]! });
  const untilBlock = async (block: number) => {
    while ((await worker.head()) <= block) await new Promise((resolve) => setTimeout(resolve, 100));
  };
  await untilBlock((await worker.task(chainTaskId))!.commitment!.committedAt + 1);
  await submitAs(
    chain.api,
    "//Ferdie",
    "Compute.select_audits",
    computeCall(chain.api, "selectAudits")(chainTaskId),
  );
  const task = (await worker.task(chainTaskId))!;
  const layout = new TranscriptLayout(0n, 4n, BigInt(task.transcriptStride));
  const transcript = Array.from({ length: layout.leaves }, hash);
  await verifier.submitVerdict({
    chainTaskId,
    auditIndex: 0,
    agrees: false,
    transcript: `0x${Buffer.from(merkleRoot(transcript.map(bytes))).toString("hex")}`,
    endState: transcript.at(-1)!,
    endStateProof: proofOf(transcript, layout.leaves - 1),
    leaf: leaves[1]!,
    leafProof: proofOf(leaves, 1),
  });
  await untilBlock(task.challengeEnd);
  await verifier.reveal({
    chainTaskId,
    auditIndex: 0,
    secret: secret.secret,
    nextCommitment: newForcedErrorSecret().commitment,
  });
  const dispute = (await readOpenDisputes(chain.api)).find((d) => d.chainTaskId === chainTaskId);
  if (!dispute) throw new Error(`the disagreeing verdict on chain task ${chainTaskId} opened no dispute`);
  return { dispute, worker, verifier, transcript };
}

/** The jackpot pot's free balance in planck (PROTOCOL.md §8): what forced-error payouts come from. */
export async function jackpotBalance(chain: ChainConnection): Promise<bigint> {
  return (await readBalance(chain.api, JACKPOT_ACCOUNT)).free;
}

/** Tops the jackpot pot up from `seed`'s account, as task taxes and slashes fill it over many tasks. */
export async function fundJackpot(chain: ChainConnection, seed: string, amount: bigint): Promise<void> {
  const tx = await submitAs(
    chain.api,
    seed,
    "Balances.transfer_keep_alive",
    chain.api.tx.balances!.transferKeepAlive!(JACKPOT_ACCOUNT, amount),
  );
  if (tx.status !== "succeeded") throw new Error(`funding the jackpot failed: ${tx.error}`);
}
