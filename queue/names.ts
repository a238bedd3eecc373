// The queues behind the node gateway. The chain decides which node does each piece of work (a
// task's worker, an audit's verifier), so every node has a queue of its own per kind of work: a
// claim only ever sees work the chain gave to the claiming node.
export const TASK_KINDS = ["training", "audit"] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

/** Where the queues live: a Redis server and a key prefix, so tests and deployments can share one server. */
export interface QueueConnection {
  redisUrl: string;
  /** BullMQ key prefix; every key of these queues starts with it. */
  prefix: string;
}

export const DEFAULT_QUEUE_PREFIX = "veritrain";

/** The queue of `node`'s work of `kind` (an SS58 address is base58, so it is a safe name). */
export function queueNameOf(kind: TaskKind, node: string): string {
  if (!/^[1-9A-HJ-NP-Za-km-z]{1,64}$/.test(node)) {
    throw new TypeError(`"${node.slice(0, 80)}" is not an SS58 address`);
  }
  return `${kind}.${node}`;
}

/** The one queue of outgoing webhook deliveries; any API process with queues sends them. */
export const WEBHOOK_QUEUE = "webhooks";
