// In-process caches of rows that another API process may change (a revoked API key, a node's
// re-registration) are invalidated through Redis pub/sub: the process that changes the row
// publishes its key after the commit, every process evicts it. A message published while a
// subscriber was disconnected is lost, so a reconnect clears the whole cache; and should Redis be
// unreachable altogether, each cache's TTL still bounds how long a stale entry lives.
import type { Redis } from "ioredis";

export interface EvictableCache {
  evict(key: string): void;
  clear(): void;
}

/** Tells every process that `key` changed; a failure is left to the caches' TTL. */
export async function announceEviction(redis: Redis, channel: string, key: string): Promise<void> {
  await redis.publish(channel, key).catch(() => 0);
}

/** Evicts what any process announces on `channel`; resolves once subscribed, returns the unsubscriber. */
export async function listenForEvictions(
  redis: Redis,
  channel: string,
  cache: EvictableCache,
): Promise<() => Promise<void>> {
  const subscriber = redis.duplicate();
  subscriber.on("error", () => undefined);
  subscriber.on("message", (_channel: string, key: string) => cache.evict(key));
  let connectedOnce = false;
  subscriber.on("ready", () => {
    if (connectedOnce) cache.clear();
    connectedOnce = true;
  });
  try {
    await subscriber.subscribe(channel);
  } catch (error) {
    subscriber.disconnect();
    throw error;
  }
  return async () => {
    subscriber.disconnect();
  };
}
