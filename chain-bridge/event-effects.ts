// What each Compute event changes in the database: one entry per event, applied by the event
// watcher inside the transaction that also advances its cursor. Events of tasks that are not
// ours (other submitters on the same chain) change nothing here; they are still journaled.
import type { Prisma } from "../prisma/generated/client.ts";
import type { DecodedEvent } from "./inclusion.ts";
import { cancellationData, payoutData, taskIdOfCause } from "./task-effects.ts";
import { bigintOf, boolOf, hashOf, numberOf, stringOf, variantOf } from "./values.ts";

export interface EventPlace {
  blockNumber: number;
  extrinsicHash: string | null;
}

/** Applies the event; returns the id of the task row it concerns, if any. */
type EventEffect = (
  tx: Prisma.TransactionClient,
  event: DecodedEvent,
  place: EventPlace,
) => Promise<string | null>;

async function taskRow(tx: Prisma.TransactionClient, event: DecodedEvent) {
  return tx.task.findUnique({ where: { chainTaskId: bigintOf(event.data.taskId, `${event.name}.taskId`) } });
}

/** An effect on the task row the event names, when there is one. */
function onTask(
  change: (
    tx: Prisma.TransactionClient,
    task: { id: string; attempt: number },
    event: DecodedEvent,
    place: EventPlace,
  ) => Promise<unknown>,
): EventEffect {
  return async (tx, event, place) => {
    const task = await taskRow(tx, event);
    if (task === null) return null;
    await change(tx, task, event, place);
    return task.id;
  };
}

/** The audit row an event names: audits belong to the task's current attempt. */
function auditOf(task: { id: string; attempt: number }, event: DecodedEvent) {
  return {
    taskId: task.id,
    attempt: task.attempt,
    auditIndex: numberOf(event.data.auditIndex, `${event.name}.auditIndex`),
  };
}

/** Links a new chain task to the row whose journaled extrinsic created it. */
const taskCreated: EventEffect = async (tx, event, place) => {
  if (place.extrinsicHash === null) return null;
  const cause = await tx.chainTransaction.findFirst({
    where: { extrinsicHash: place.extrinsicHash, purpose: "Compute.create_task" },
  });
  if (cause === null) return null;
  const id = taskIdOfCause(cause.causeKey);
  await tx.task.update({
    where: { id },
    data: { chainTaskId: bigintOf(event.data.taskId, "TaskCreated.taskId"), failureReason: null },
  });
  return id;
};

export const eventEffects: Readonly<Record<string, EventEffect>> = {
  TaskCreated: taskCreated,
  WorkerAssigned: onTask((tx, task, event) =>
    tx.task.update({
      where: { id: task.id },
      data: {
        status: "assigned",
        workerAddress: stringOf(event.data.worker, "WorkerAssigned.worker"),
        attempt: numberOf(event.data.attempt, "WorkerAssigned.attempt"),
        commitDeadline: numberOf(event.data.commitDeadline, "WorkerAssigned.commitDeadline"),
        checkpointRoot: null,
        checkpointCount: null,
        committedSteps: null,
        resultHash: null,
      },
    }),
  ),
  TaskUnassigned: onTask((tx, task) =>
    tx.task.update({ where: { id: task.id }, data: { status: "unassigned", workerAddress: null } }),
  ),
  CheckpointsCommitted: onTask((tx, task, event) =>
    tx.task.update({
      where: { id: task.id },
      data: {
        status: "committed",
        checkpointRoot: hashOf(event.data.root, "CheckpointsCommitted.root"),
        checkpointCount: numberOf(event.data.checkpoints, "CheckpointsCommitted.checkpoints"),
        committedSteps: bigintOf(event.data.steps, "CheckpointsCommitted.steps"),
        resultHash: hashOf(event.data.result, "CheckpointsCommitted.result"),
      },
    }),
  ),
  AuditsSelected: onTask((tx, task) =>
    tx.task.update({ where: { id: task.id }, data: { status: "auditing" } }),
  ),
  AuditAssigned: onTask((tx, task, event) => {
    const audit = auditOf(task, event);
    const fields = {
      segment: numberOf(event.data.segment, "AuditAssigned.segment"),
      verifierAddress: stringOf(event.data.verifier, "AuditAssigned.verifier"),
    };
    return tx.taskAudit.upsert({
      where: { taskId_attempt_auditIndex: audit },
      create: { ...audit, ...fields },
      update: fields,
    });
  }),
  VerdictSubmitted: onTask((tx, task, event, place) =>
    tx.taskAudit.updateMany({
      where: auditOf(task, event),
      data: {
        agrees: boolOf(event.data.agrees, "VerdictSubmitted.agrees"),
        transcript: hashOf(event.data.transcript, "VerdictSubmitted.transcript"),
        verdictExtrinsicHash: place.extrinsicHash,
      },
    }),
  ),
  Challenged: onTask((tx, task, event) =>
    tx.taskAudit.updateMany({
      where: auditOf(task, event),
      data: { challengerAddress: stringOf(event.data.whistleblower, "Challenged.whistleblower") },
    }),
  ),
  Revealed: onTask((tx, task, event) =>
    tx.taskAudit.updateMany({
      where: auditOf(task, event),
      data: { forced: boolOf(event.data.forced, "Revealed.forced") },
    }),
  ),
  AuditSettled: onTask((tx, task, event) =>
    tx.taskAudit.updateMany({
      where: auditOf(task, event),
      data: {
        outcome: variantOf(
          event.data.outcome,
          ["Pending", "Passed", "Failed"],
          "AuditSettled.outcome",
        ).toLowerCase(),
      },
    }),
  ),
  AuditsClosed: onTask((tx, task) => tx.task.update({ where: { id: task.id }, data: { status: "closed" } })),
  TaskFinalized: onTask((tx, task, event) =>
    tx.task.update({ where: { id: task.id }, data: payoutData(event) }),
  ),
  TaskCancelled: onTask((tx, task, event) =>
    tx.task.update({ where: { id: task.id }, data: cancellationData(event) }),
  ),
};
