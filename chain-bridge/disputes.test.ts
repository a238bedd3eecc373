// The pinpoint game through the bridge, on the dev chain: a verifier's disagreeing verdict opens a
// commitment dispute, the worker answers every turn with respond, the verifier bisects, the typed
// reader follows phase, turn and bounds, claim_timeout is refused while the party on turn is in
// time, and the referee's ruling (Root through Sudo) ends it.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { merkleInclusionProof, merkleRoot } from "../protocol/merkle.ts";
import { cumulativeChain } from "../protocol/pinpoint.ts";
import { TranscriptLayout } from "../protocol/transcript.ts";
import {
  type BridgeFixture,
  committedTask,
  sampleSpec,
  sealBlocks,
  startBridgeFixture,
  workerAndVerifier,
} from "../test/support/chain-fixture.ts";
import { askedPosition, readDisputeWithTask } from "./dispute-state.ts";
import { BridgeError } from "./errors.ts";
import { newForcedErrorSecret } from "./forced-errors.ts";
import { resolveDispute } from "./governance.ts";

const hash = () => `0x${randomBytes(32).toString("hex")}`;
const bytes = (hex: string) => Buffer.from(hex.slice(2), "hex");
const hex = (node: Uint8Array) => `0x${Buffer.from(node).toString("hex")}`;
const refusedWith = (name: string) => (error: unknown) =>
  error instanceof BridgeError && error.module?.name === name;

describe("NodeChainClient and the referee: a commitment dispute played to the referee's ruling", () => {
  let fixture: BridgeFixture;

  before(async () => {
    fixture = await startBridgeFixture();
  });

  after(async () => {
    await fixture.stop();
  });

  it("follows every turn, refuses an early claim_timeout and settles by the referee", async () => {
    const { worker, verifier, secret } = await workerAndVerifier(fixture.chain);
    const { taskId, escrow, leaves } = await committedTask(fixture, worker, 800n);
    await fixture.bridge.selectAudits(taskId, 0);
    const task = (await verifier.task(escrow.chainTaskId))!;
    const { checkpointInterval, maxSteps, graphNodes } = sampleSpec();
    const segment = task.audits[0]!.segment;
    const start = BigInt(segment) * checkpointInterval;
    const end = start + checkpointInterval < maxSteps ? start + checkpointInterval : maxSteps;
    const layout = new TranscriptLayout(start, end, BigInt(task.transcriptStride));
    const transcript = Array.from({ length: layout.leaves }, hash);
    const tree = transcript.map(bytes);
    const committed = leaves[segment + 1]!;
    await verifier.submitVerdict({
      chainTaskId: escrow.chainTaskId,
      auditIndex: 0,
      agrees: false,
      transcript: hex(merkleRoot(tree)),
      endState: transcript.at(-1)!,
      endStateProof: merkleInclusionProof(tree, tree.length - 1).map(hex),
      leaf: committed,
      leafProof: merkleInclusionProof(leaves.map(bytes), segment + 1).map(hex),
    });
    await sealBlocks(fixture.chain, task.challengeEnd - (await verifier.head()));
    await verifier.reveal({
      chainTaskId: escrow.chainTaskId,
      auditIndex: 0,
      secret: secret.secret,
      nextCommitment: newForcedErrorSecret().commitment,
    });

    const [opened] = await worker.myDisputes();
    assert.ok(opened, "the disagreeing verdict opened a dispute the worker is party to");
    assert.deepEqual(
      (await verifier.myDisputes()).map((d) => d.disputeId),
      [opened.disputeId],
    );
    const id = opened.disputeId;
    assert.equal(opened.kind, "Commitment");
    assert.equal(opened.defender, worker.address);
    assert.equal(opened.challenger, verifier.address);
    assert.equal(opened.phase, "Opening");
    assert.equal(opened.turn, "Defender");
    assert.equal(opened.segmentStart, start);
    assert.equal(opened.segmentEnd, end);
    assert.equal(askedPosition(opened, task), end);
    await assert.rejects(verifier.bisect(id, false), refusedWith("NotYourTurn"));
    await assert.rejects(verifier.claimTimeout(id), refusedWith("TooEarly"));
    await assert.rejects(worker.respond(id, committed, []), refusedWith("BadProof"));
    await worker.respond(id, committed, merkleInclusionProof(leaves.map(bytes), segment + 1).map(hex));

    // Phase 1: the verifier disagrees every time, so the first step of the segment is disputed.
    let rounds = 0;
    for (;;) {
      const { dispute, task: now } = (await readDisputeWithTask(fixture.chain.api, id))!;
      if (dispute.phase !== "Steps") break;
      assert.equal(dispute.turn, "Defender");
      assert.equal(askedPosition(dispute, now), (dispute.lo + dispute.hi) / 2n);
      await worker.respond(id, hash());
      assert.equal((await verifier.dispute(id))?.turn, "Challenger");
      await verifier.bisect(id, false);
      rounds += 1;
    }
    assert.ok(rounds <= Math.ceil(Math.log2(Number(end - start))), `${rounds} rounds`);
    const operators = (await verifier.dispute(id))!;
    assert.equal(operators.phase, "Operators");
    assert.equal(operators.step, start + 1n);
    assert.equal(operators.lo, 0n);
    assert.equal(operators.hi, BigInt(graphNodes) + 1n);

    // Phase 2 over the worker's own cumulative chain; the verifier disagrees down to node 0.
    const outputs = Array.from({ length: graphNodes + 1 }, hash);
    const chain = cumulativeChain(operators.step, outputs);
    assert.equal(operators.cumulativeLo, chain[0], "C_0 is the chain's");
    for (;;) {
      const { dispute, task: now } = (await readDisputeWithTask(fixture.chain.api, id))!;
      if (dispute.phase !== "Operators") break;
      await worker.respond(id, chain[Number(askedPosition(dispute, now))]!);
      await verifier.bisect(id, false);
    }
    const claim = (await verifier.dispute(id))!;
    assert.equal(claim.phase, "Claim");
    assert.equal(claim.lo, 0n);
    await assert.rejects(worker.respond(id, hash()), refusedWith("InconsistentClaim"));
    await worker.respond(id, outputs[0]!);
    const atReferee = (await verifier.dispute(id))!;
    assert.equal(atReferee.turn, "Referee");
    assert.equal(atReferee.claim, outputs[0]);
    await sealBlocks(fixture.chain, atReferee.deadline + 1 - (await verifier.head()));
    await assert.rejects(verifier.claimTimeout(id), refusedWith("NotYourTurn"));

    // The referee's output equals the worker's claim: the worker wins, the verifier is slashed.
    const before = await verifier.balance();
    await assert.rejects(
      resolveDispute(fixture.chain.api, "//Bob", id, outputs[0]!),
      (error: unknown) => error instanceof BridgeError,
      "only the governance key rules",
    );
    const ruling = await resolveDispute(fixture.chain.api, "//Alice", id, outputs[0]!);
    const resolved = ruling.events?.find((e) => e.pallet === "Compute" && e.name === "DisputeResolved");
    assert.equal(resolved?.data.winner, worker.address);
    assert.equal(resolved?.data.by, "Referee");
    assert.equal(await verifier.dispute(id), null);
    assert.ok((await verifier.balance()).reserved < before.reserved, "the losing verifier is slashed");
  });
});
