// What a settled operator transaction changes on the task row that caused it, applied in the same
// database transaction as the settlement (transaction-store.ts). The event watcher applies the
// same facts from the chain's side; both write the same values, so whichever comes first wins
// and the other changes nothing.
import type { Prisma } from "../prisma/generated/client.ts";
import { BridgeError } from "./errors.ts";
import type { DecodedEvent } from "./inclusion.ts";
import type { SettlementEffect, TxRecord } from "./transaction-store.ts";
import { bigintOf, numberOf, stringOf } from "./values.ts";

export type TaskAction =
  | "create"
  | "finalize"
  | "cancel"
  | "select_audits"
  | "close_audits"
  | "reassign"
  | "challenge_delivery"
  | "close_delivery";

/**
 * `task:<task id>:<action>`, `@<attempt>` for the actions the protocol allows once per attempt
 * (audits are drawn and closed again after a re-assignment), and `#<n>` appended for the n-th
 * retry after a definite failure; `/<round>` for the audit rounds after the first of an attempt
 * (every verifier of the previous round missed its window).
 */
export function taskCause(taskId: string, action: TaskAction, attempt?: number, round = 0): string {
  return `task:${taskId}:${action}${attempt === undefined ? "" : `@${attempt}`}${round === 0 ? "" : `/${round}`}`;
}

/** `task:<task id>:claim_timeout:<dispute id>`: a dispute is ended by timeout at most once. */
export function disputeCause(taskId: string, disputeId: bigint): string {
  return `task:${taskId}:claim_timeout:${disputeId}`;
}

export function taskIdOfCause(causeKey: string): string {
  const match = /^task:([^:]+):/.exec(causeKey);
  if (!match) throw new BridgeError("RECONCILE_FAILED", `cause key "${causeKey}" does not name a task`);
  return match[1]!;
}

export function eventOf(
  events: readonly DecodedEvent[] | null,
  pallet: string,
  name: string,
): DecodedEvent | null {
  return events?.find((event) => event.pallet === pallet && event.name === name) ?? null;
}

function requiredEvent(record: TxRecord, name: string): DecodedEvent {
  const event = eventOf(record.events, "Compute", name);
  if (!event) {
    throw new BridgeError(
      "RECONCILE_FAILED",
      `${record.purpose} of ${record.causeKey} succeeded without Compute.${name}`,
    );
  }
  return event;
}

const createTask: SettlementEffect = async (tx, record) => {
  const id = taskIdOfCause(record.causeKey);
  if (record.status !== "succeeded") {
    await tx.task.update({
      where: { id },
      data: {
        status: "open_failed",
        failureReason: `${record.errorCode ?? "failed"}: ${record.error ?? ""}`.trim(),
      },
    });
    return;
  }
  const created = requiredEvent(record, "TaskCreated");
  const assigned = requiredEvent(record, "WorkerAssigned");
  const chainTaskId = bigintOf(created.data.taskId, "TaskCreated.taskId");
  const task = await tx.task.findUniqueOrThrow({ where: { id } });
  const data: Prisma.TaskUpdateInput = { chainTaskId, failureReason: null };
  // The watcher may already have moved the task further on: never step its status back.
  if (task.status === "opening") {
    Object.assign(data, {
      status: "assigned",
      workerAddress: stringOf(assigned.data.worker, "WorkerAssigned.worker"),
      attempt: numberOf(assigned.data.attempt, "WorkerAssigned.attempt"),
      commitDeadline: numberOf(assigned.data.commitDeadline, "WorkerAssigned.commitDeadline"),
    });
  }
  await tx.task.update({ where: { id }, data });
};

export function payoutData(event: DecodedEvent): Prisma.TaskUpdateInput {
  return {
    status: "finalized",
    workerPayPlanck: bigintOf(event.data.workerPay, "TaskFinalized.workerPay").toString(),
    verifierPayPlanck: bigintOf(event.data.verifierPay, "TaskFinalized.verifierPay").toString(),
    jackpotTaxPlanck: bigintOf(event.data.jackpotTax, "TaskFinalized.jackpotTax").toString(),
    refundPlanck: bigintOf(event.data.refund, "TaskFinalized.refund").toString(),
  };
}

export function cancellationData(event: DecodedEvent): Prisma.TaskUpdateInput {
  return {
    status: "cancelled",
    refundPlanck: bigintOf(event.data.refund, "TaskCancelled.refund").toString(),
  };
}

const finalize: SettlementEffect = async (tx, record) => {
  if (record.status !== "succeeded") return;
  await tx.task.update({
    where: { id: taskIdOfCause(record.causeKey) },
    data: payoutData(requiredEvent(record, "TaskFinalized")),
  });
};

const cancel: SettlementEffect = async (tx, record) => {
  if (record.status !== "succeeded") return;
  await tx.task.update({
    where: { id: taskIdOfCause(record.causeKey) },
    data: cancellationData(requiredEvent(record, "TaskCancelled")),
  });
};

/** By purpose; audits' selection and closing change the task through the watcher only. */
export const taskEffects: Readonly<Record<string, SettlementEffect>> = {
  "Compute.create_task": createTask,
  "Compute.finalize": finalize,
  "Compute.cancel_task": cancel,
};
