// What a user reads when a job waits or fails: a typed code and a plain sentence, written as
// `code: sentence` in `failure_reason` and in the reason of job events. Chain and node error text
// is for operators: it names pallets, accounts and internal limits, or says whatever a node chose
// to write, so it goes to the logs and never into a job.
import type { BridgeError } from "../../chain-bridge/index.ts";

export const USER_REASONS = {
  no_worker_free:
    "no worker of the network is free to take this job yet; it keeps its place in the line and is dispatched when one is",
  network_busy: "the network cannot take the job yet; it keeps its place in the line and dispatch is retried",
  worker_failed: "the worker could not train the job on any attempt",
  invalid_delivery: "the worker delivered results that do not agree with each other",
  verification_timeout: "no audit could be drawn in time",
  audits_missed: "no verifier audited the work in time",
  expired: "no worker took the job within its expires_after",
  unassigned_timeout: "no worker of the profile the job's checkpoints were made with became free in time",
  verification_unavailable:
    "the network audits fewer segments per task than this job's verification level needs",
} as const;

export type UserReasonCode = keyof typeof USER_REASONS;

/** `code: sentence`, as `failure_reason` and job events carry it. */
export function userReason(code: UserReasonCode): string {
  return `${code}: ${USER_REASONS[code]}`;
}

/** Why a job waits when the chain refused its escrow for now. */
export function waitingReason(error: BridgeError): UserReasonCode {
  return error.module?.pallet === "Compute" && error.module.name === "NoEligibleWorker"
    ? "no_worker_free"
    : "network_busy";
}
