// The delivery dispute (PROTOCOL.md §7, "Undelivered commit"): a worker commits its checkpoint root
// on chain, but the checkpoints and the model reach the submitter off chain. The submitter may
// challenge a commit it never received (or received with a model that is not the checkpoints'),
// bonding that claim; the referee, which fetches the checkpoints itself, rules whether the worker
// delivered. A worker found not to have delivered is fraud-slashed like one that lost a commitment
// dispute; a submitter that challenged a delivered commit pays its bond to the worker. Without a
// ruling, the challenge lapses and voids the attempt with nobody slashed.

import { hexToU8a } from "@polkadot/util";
import { decodeAddress } from "@polkadot/util-crypto";
import { commitmentMessage } from "../../../protocol/signed-messages.ts";
import { type AccountId, type DispatchContext, ensureRoot, type Origin } from "../pallet.ts";
import { verifySignature } from "../signature.ts";
import { ensure } from "./compute-errors.ts";
import { emit } from "./compute-events.ts";
import { reserveFunds, slashStake } from "./compute-stake.ts";
import { parameters, tasks } from "./compute-storage.ts";
import { deliveryOpen, getTask, requireCommitment, restartAttempt } from "./compute-tasks.ts";
import type { DeliveryChallenge, DeliveryClaim, DeliveryOutcome, TaskInfo } from "./compute-types.ts";

/** Longer platform task references are refused before any hashing, so the call's weight is bounded. */
export const MAX_TASK_REF_BYTES = 64;

const strip = (hex: string) => hex.replace(/^0x/, "");

/**
 * Whether the claim is the worker's sr25519 signature over its commitment (protocol/signed-messages.ts)
 * to this task's committed root and leaf count and the claimed model: the chain checks that the
 * worker said it, the referee whether what it said is the checkpoints' model.
 */
function claimSigned(task: TaskInfo, claim: DeliveryClaim): boolean {
  const commitment = requireCommitment(task);
  const taskRef = hexToU8a(claim.taskRef);
  if (taskRef.length === 0 || taskRef.length > MAX_TASK_REF_BYTES) return false;
  const message = commitmentMessage({
    taskId: new TextDecoder("utf-8", { fatal: false }).decode(taskRef),
    checkpointRoot: strip(commitment.root),
    leafCount: commitment.checkpoints,
    modelSha256: strip(claim.model),
  });
  return verifySignature("Sr25519", hexToU8a(claim.signature), message, decodeAddress(task.worker!));
}

export function challengeDelivery(
  ctx: DispatchContext,
  who: AccountId,
  args: { taskId: bigint; claim: DeliveryClaim | null },
): void {
  const task = getTask(ctx, args.taskId);
  ensure(task.submitter === who, "NotSubmitter");
  ensure(task.status === "Committed", "WrongTaskStatus");
  ensure(task.delivery === null, "AlreadyChallenged");
  const params = parameters.get(ctx);
  ensure(ctx.blockNumber > requireCommitment(task).committedAt + params.commitBlocks, "TooEarly");
  ensure(args.claim === null || claimSigned(task, args.claim), "BadClaim");
  reserveFunds(ctx, who, params.challengeBond);
  // The worker has one round to republish what it committed; the referee a verdict window after it.
  const deadline = ctx.blockNumber + params.roundBlocks;
  const delivery: DeliveryChallenge = {
    bond: params.challengeBond,
    claim: args.claim,
    deadline,
    lapsesAfter: deadline + params.verdictBlocks,
    ruling: null,
  };
  tasks.set(ctx, args.taskId, { ...task, delivery });
  emit(ctx, "DeliveryChallenged", {
    taskId: args.taskId,
    worker: task.worker,
    attempt: task.attempt,
    claimedModel: args.claim?.model ?? null,
    deadline,
    lapsesAfter: delivery.lapsesAfter,
  });
}

function openChallenge(task: TaskInfo): DeliveryChallenge {
  ensure(task.status === "Committed" && deliveryOpen(task), "NoDeliveryChallenge");
  return task.delivery!;
}

export function ruleDelivery(
  ctx: DispatchContext,
  origin: Origin,
  args: { taskId: bigint; outcome: DeliveryOutcome },
): void {
  ensureRoot(origin);
  const task = getTask(ctx, args.taskId);
  const delivery = openChallenge(task);
  const worker = task.worker!;
  // Missing checkpoints may still come within the worker's round; a signed false claim cannot be undone.
  if (args.outcome === "Undelivered") ensure(ctx.blockNumber > delivery.deadline, "TooEarly");
  if (args.outcome === "FalseClaim") ensure(delivery.claim !== null, "NoClaim");
  emit(ctx, "DeliveryRuled", { taskId: args.taskId, worker, outcome: args.outcome });
  if (args.outcome === "Delivered") {
    ctx.currency.repatriateReserved(task.submitter, worker, delivery.bond, "free");
    tasks.set(ctx, args.taskId, { ...task, delivery: { ...delivery, ruling: "Delivered" } });
    return;
  }
  ctx.currency.unreserve(task.submitter, delivery.bond);
  // The submitter bonded the accusation and its user waited: it takes the winner's share.
  slashStake(ctx, worker, "worker", "Fraud", task.submitter);
  restartAttempt(ctx, args.taskId, task, worker);
}

export function closeDelivery(ctx: DispatchContext, taskId: bigint): void {
  const task = getTask(ctx, taskId);
  const delivery = openChallenge(task);
  ensure(ctx.blockNumber > delivery.lapsesAfter, "TooEarly");
  // No referee ruled: the chain still cannot tell a crash from a lie, so nobody is slashed.
  ctx.currency.unreserve(task.submitter, delivery.bond);
  emit(ctx, "DeliveryLapsed", { taskId, worker: task.worker });
  restartAttempt(ctx, taskId, task, task.worker!);
}
