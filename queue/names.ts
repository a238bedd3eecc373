// The queues behind the node gateway: one per kind of work a node can claim.
export const TASK_KINDS = ["training", "audit"] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

/** Where the queues live: a Redis server and a key prefix, so tests and deployments can share one server. */
export interface QueueConnection {
  redisUrl: string;
  /** BullMQ key prefix; every key of these queues starts with it. */
  prefix: string;
}

export const DEFAULT_QUEUE_PREFIX = "veritrain";
