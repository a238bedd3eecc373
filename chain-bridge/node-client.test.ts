import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  agreeingVerdict,
  type BridgeFixture,
  committedTask,
  PROFILE,
  sealBlocks,
  startBridgeFixture,
  workerAndVerifier,
} from "../test/support/chain-fixture.ts";
import { readForcedErrorPpm } from "./compute-state.ts";
import { PLANCK_PER_VT } from "./conversion.ts";
import { BridgeError } from "./errors.ts";
import { isForcedAudit, newForcedErrorSecret } from "./forced-errors.ts";
import { NodeChainClient } from "./node-client.ts";
import { eventOf } from "./task-effects.ts";

describe("NodeChainClient: a verifier's audit from verdict to reveal", () => {
  let fixture: BridgeFixture;

  before(async () => {
    fixture = await startBridgeFixture();
  });

  after(async () => {
    await fixture.stop();
  });

  it("stakes, commits, audits, reveals its forced-error secret and rotates its commitment", async () => {
    const { worker, verifier, secret } = await workerAndVerifier(fixture.chain);
    const registered = await verifier.node();
    assert.equal(registered?.bonded, 600n * PLANCK_PER_VT);
    assert.equal(registered?.commitment, secret.commitment);
    assert.equal((await verifier.balance()).reserved, 600n * PLANCK_PER_VT);

    const { taskId, escrow, commit, leaves } = await committedTask(fixture, worker, 800n);
    await assert.rejects(
      worker.commit(commit),
      (error: unknown) => error instanceof BridgeError && error.module?.name === "WrongTaskStatus",
    );
    await fixture.bridge.selectAudits(taskId, 0);
    const task = await verifier.task(escrow.chainTaskId);
    assert.equal(task?.audits[0]?.verifier, verifier.address);
    const audit = { chainTaskId: escrow.chainTaskId, auditIndex: 0 };
    await assert.rejects(
      verifier.submitVerdict({ ...audit, ...agreeingVerdict(task!, 0, leaves), agrees: false }),
      (error: unknown) => error instanceof BridgeError && error.module?.name === "InconsistentVerdict",
    );
    await verifier.submitVerdict({ ...audit, ...agreeingVerdict(task!, 0, leaves) });

    await assert.rejects(
      verifier.reveal({ ...audit, secret: secret.secret, nextCommitment: newForcedErrorSecret().commitment }),
      (error: unknown) => error instanceof BridgeError && error.module?.name === "RevealTooEarly",
    );
    const head = (await fixture.chain.api.rpc.chain.getHeader()).number.toNumber();
    await sealBlocks(fixture.chain, task!.challengeEnd - head);
    const next = newForcedErrorSecret();
    const revealed = await verifier.reveal({
      chainTaskId: escrow.chainTaskId,
      auditIndex: 0,
      secret: secret.secret,
      nextCommitment: next.commitment,
    });
    const event = eventOf(revealed.events, "Compute", "Revealed");
    const expected = isForcedAudit(
      secret.secret,
      task!.seed!,
      escrow.chainTaskId,
      0,
      await readForcedErrorPpm(fixture.chain.api),
    );
    assert.equal(event?.data.forced, expected, "the verifier computes forcedness exactly as the chain does");
    assert.equal((await verifier.node())?.commitment, next.commitment);
  });

  it("rejects malformed arguments before signing", async () => {
    const node = await NodeChainClient.create(fixture.chain.api, "//Eve");
    assert.throws(
      () =>
        node.register({
          roles: { worker: false, verifier: false, whistleblower: false },
          profile: PROFILE,
          commitment: PROFILE,
          bond: 1n,
        }),
      (error: unknown) => error instanceof BridgeError && error.code === "INVALID_ARGUMENT",
    );
    assert.throws(
      () => node.bondExtra(0n),
      (error: unknown) => error instanceof BridgeError && /at least 1 planck/.test(error.message),
    );
    await assert.rejects(
      NodeChainClient.create(fixture.chain.api, "0x1234"),
      (error: unknown) => error instanceof BridgeError && error.code === "INVALID_ARGUMENT",
    );
  });
});
