// The verification driver against the real dev chain, Postgres and Redis: an escrow whose job
// ended while it was being opened (the customer's cancel racing the dispatch, found by the chaos
// suite's flood) is returned to the treasury instead of staying locked on chain for good.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { readBalance, readTask, signerFromSeed } from "../../chain-bridge/index.ts";
import {
  type BridgeFixture,
  sampleSpec,
  stakedNode,
  startBridgeFixture,
} from "../../test/support/chain-fixture.ts";
import { type DriverRig, driverRig } from "../../test/support/verification-driver.ts";
import { taskIdOf } from "./job-dispatch.ts";
import type { VerificationDriver } from "./verification.ts";

let fixture: BridgeFixture;
let rig: DriverRig;
let driver: VerificationDriver;

before(async () => {
  fixture = await startBridgeFixture();
  await stakedNode(fixture.chain, "//Bob", { worker: true });
  rig = driverRig(fixture, () => undefined);
  driver = rig.driver;
});

after(async () => {
  await rig.close();
  await fixture.stop();
});

test("an escrow opened for a job that was cancelled meanwhile is returned to the treasury", async () => {
  const { db } = fixture.database;
  const operator = await signerFromSeed("//Alice");
  const reservedBefore = (await readBalance(fixture.chain.api, operator.address)).reserved;
  const escrow = await fixture.bridge.openEscrow({
    taskId: taskIdOf(fixture.jobId),
    jobId: fixture.jobId,
    usdCents: 300n,
    spec: sampleSpec({ verificationLevel: 1 }),
  });
  // The cancel won the race: the job is settled while its escrow was still opening.
  await db.trainingJob.update({ where: { id: fixture.jobId }, data: { status: "cancelled" } });
  assert.ok((await readBalance(fixture.chain.api, operator.address)).reserved > reservedBefore);

  await driver.tick();

  assert.equal((await readTask(fixture.chain.api, escrow.chainTaskId))?.status, "Cancelled");
  assert.equal((await readBalance(fixture.chain.api, operator.address)).reserved, reservedBefore);
});
