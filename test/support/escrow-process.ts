// A process of its own that opens one escrow, for the crash test (crash.test.ts) to kill with
// SIGKILL between submitting the extrinsic and recording its outcome.
// Env: CHAIN_WS_URL, DATABASE_URL, TASK_ID, JOB_ID, USD_CENTS, SPEC (JSON, bigints as strings).

import { ChainBridge, type TaskSpecInput } from "../../chain-bridge/bridge.ts";
import { createDatabase } from "../../prisma/client.ts";

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

const raw = JSON.parse(env("SPEC")) as Record<string, string | number | null>;
const spec: TaskSpecInput = {
  modelSha256: String(raw.modelSha256),
  datasetSha256: String(raw.datasetSha256),
  specSha256: String(raw.specSha256),
  profile: raw.profile === null ? null : String(raw.profile),
  maxSteps: BigInt(String(raw.maxSteps)),
  checkpointInterval: BigInt(String(raw.checkpointInterval)),
  graphNodes: Number(raw.graphNodes),
  verificationLevel: Number(raw.verificationLevel),
};
const db = createDatabase(env("DATABASE_URL"), 2);
const bridge = await ChainBridge.connect(env("CHAIN_WS_URL"), {
  db,
  operatorSeed: "//Alice",
  tokenUsdRate: "0.01",
});
const escrow = await bridge.openEscrow({
  taskId: env("TASK_ID"),
  jobId: env("JOB_ID"),
  usdCents: BigInt(env("USD_CENTS")),
  spec,
});
process.stdout.write(`${JSON.stringify({ chainTaskId: String(escrow.chainTaskId) })}\n`);
await bridge.close();
await db.$disconnect();
