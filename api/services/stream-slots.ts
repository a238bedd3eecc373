// How many event streams one caller holds open, across every API instance: a slot per stream in a
// Redis sorted set scored by when it lapses. An open stream renews its slot on each heartbeat, so
// the slots of an instance that died lapse on their own.
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

// Drops lapsed slots, then takes one if fewer than the maximum are held; atomic, so two streams
// opening together cannot both take the last slot.
const TAKE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

export interface StreamSlot {
  /** Keeps the slot while the stream lives; call at least once per lapse period. */
  renew(): Promise<void>;
  release(): Promise<void>;
}

export class StreamSlots {
  constructor(
    private readonly redis: Redis,
    /** Streams one caller may hold open at once. */
    readonly maxPerCaller: number,
    /** How long a slot lasts without renewal. */
    private readonly lapseMs: number,
  ) {}

  /** A slot for `caller`, or null when all of theirs are taken. */
  async take(caller: string): Promise<StreamSlot | null> {
    const key = `event-streams:${caller}`;
    const id = randomBytes(8).toString("hex");
    const now = Date.now();
    const taken = await this.redis.eval(
      TAKE,
      1,
      key,
      now,
      this.maxPerCaller,
      now + this.lapseMs,
      id,
      this.lapseMs,
    );
    if (taken !== 1) return null;
    return {
      renew: async () => {
        await this.redis.zadd(key, "XX", Date.now() + this.lapseMs, id);
        await this.redis.pexpire(key, this.lapseMs);
      },
      release: async () => {
        await this.redis.zrem(key, id);
      },
    };
  }
}
