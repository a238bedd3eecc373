// How long a node may go silent before its task returns to the queue, and how often work is
// retried, per kind of task. Training steps run for minutes between checkpoints, so the lock
// outlives several missed heartbeats; an audit replays one segment and is retried sooner.
import type { TaskKind } from "./names.ts";

export interface QueuePolicy {
  /** Attempts a task gets when nodes report failure (a lapsed lease is counted separately). */
  attempts: number;
  /** First retry delay; it doubles on each further attempt. */
  backoffMs: number;
  /** Lease length: a node must heartbeat (or report) within this time or lose the task. */
  lockMs: number;
  /** How often the gateway looks for lapsed leases. */
  stalledIntervalMs: number;
  /** Lapsed leases a task survives before it fails for good (nodes keep dying on it). */
  maxStalledCount: number;
  /** How long finished tasks stay inspectable in Redis. */
  keepFinishedSeconds: number;
}

export const QUEUE_POLICIES: Record<TaskKind, QueuePolicy> = {
  training: {
    attempts: 3,
    backoffMs: 5_000,
    lockMs: 60_000,
    stalledIntervalMs: 15_000,
    maxStalledCount: 5,
    keepFinishedSeconds: 7 * 24 * 3600,
  },
  audit: {
    attempts: 3,
    backoffMs: 2_000,
    lockMs: 30_000,
    stalledIntervalMs: 10_000,
    maxStalledCount: 3,
    keepFinishedSeconds: 7 * 24 * 3600,
  },
};

/** Retries of an outgoing webhook: exponential, each delay twice the one before. */
export interface WebhookPolicy {
  attempts: number;
  backoffMs: number;
  /** Deliveries sent at once by one process. */
  concurrency: number;
  keepFinishedSeconds: number;
}

// 10 s doubled 13 times: the 14th and last attempt comes about 23 hours after the first, so a
// receiver that is down for most of a day still gets the event (Standard Webhooks' guidance).
export const WEBHOOK_POLICY: WebhookPolicy = {
  attempts: 14,
  backoffMs: 10_000,
  concurrency: 8,
  keepFinishedSeconds: 7 * 24 * 3600,
};
