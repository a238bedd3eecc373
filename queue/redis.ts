import { Redis } from "ioredis";

/** A connection BullMQ accepts for its blocking commands: it must retry forever, never give up mid-call. */
export function bullmqConnection(redisUrl: string, connectionName?: string): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: null, ...(connectionName ? { connectionName } : {}) });
}
