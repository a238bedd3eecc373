// Shared set-up of the bridge's tests: the dev chain in-process, a database schema of their own,
// a training job row for tasks to belong to, and staked nodes to take the work.
import { randomBytes } from "node:crypto";
import { newId } from "../api/ids.ts";
import { createTestDatabase, type TestDatabase } from "../test/support/database.ts";
import type { TaskSpecInput } from "./bridge.ts";
import { type ChainConnection, connectChain } from "./connection.ts";
import { PLANCK_PER_VT } from "./conversion.ts";
import { type Devnet, startDevnet } from "./devnet/index.ts";
import { newForcedErrorSecret } from "./forced-errors.ts";
import { NodeChainClient, type NodeRoles } from "./node-client.ts";

export interface ChainFixture {
  devnet: Devnet;
  chain: ChainConnection;
  database: TestDatabase;
  stop(): Promise<void>;
}

export async function startChainFixture(
  options: { blockTimeMs?: number; dataDir?: string } = {},
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

/** A node staked with `vt` VT in the given roles, signing with `seed`. */
export async function stakedNode(
  chain: ChainConnection,
  seed: string,
  roles: Partial<NodeRoles>,
  vt = 2_000n,
): Promise<NodeChainClient> {
  const node = await NodeChainClient.create(chain.api, seed);
  await node.register({
    roles: { worker: false, verifier: false, whistleblower: false, ...roles },
    profile: PROFILE,
    commitment: newForcedErrorSecret().commitment,
    bond: vt * PLANCK_PER_VT,
  });
  return node;
}
