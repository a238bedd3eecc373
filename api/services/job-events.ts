// A job's progress as an append-only list of events: stored in Postgres (the history a client
// lists or replays after a reconnect) and published on Redis, so a live stream on any API
// process sees events that another process recorded.
import type { Redis } from "ioredis";
import type { Database } from "../../prisma/client.ts";
import type { JobEvent as JobEventRow, Prisma } from "../../prisma/generated/client.ts";

export interface JobEventView {
  id: number;
  type: string;
  data: Record<string, unknown>;
  created_at: string;
}

/** The events that end a job: its stream ends after one of them. */
export const JOB_FINAL_EVENTS: ReadonlySet<string> = new Set([
  "job.succeeded",
  "job.failed",
  "job.cancelled",
]);

/** A stored event as the API answers it. */
export function eventView(row: JobEventRow): JobEventView {
  return {
    id: Number(row.id),
    type: row.type,
    data: row.data as Record<string, unknown>,
    created_at: row.createdAt.toISOString(),
  };
}

type Listener = (event: JobEventView) => void;

const channelOf = (jobId: string) => `job-events:${jobId}`;

export class JobEvents {
  private readonly listeners = new Map<string, Set<Listener>>();
  private subscriber: Redis | undefined;

  constructor(
    private readonly db: Database,
    private readonly redis: Redis,
  ) {}

  /** Records the event in the caller's transaction; publish it with `publish` after commit. */
  async record(
    jobId: string,
    type: string,
    data: Record<string, unknown>,
    tx: Prisma.TransactionClient | Database = this.db,
  ): Promise<JobEventView> {
    const row = await tx.jobEvent.create({ data: { jobId, type, data: data as Prisma.InputJsonValue } });
    return { id: Number(row.id), type, data, created_at: row.createdAt.toISOString() };
  }

  async publish(jobId: string, event: JobEventView): Promise<void> {
    await this.redis.publish(channelOf(jobId), JSON.stringify(event));
  }

  async emit(jobId: string, type: string, data: Record<string, unknown>): Promise<JobEventView> {
    const event = await this.record(jobId, type, data);
    await this.publish(jobId, event);
    return event;
  }

  async list(jobId: string, afterId: number, limit: number): Promise<JobEventView[]> {
    const rows = await this.db.jobEvent.findMany({
      where: { jobId, id: { gt: BigInt(afterId) } },
      orderBy: { id: "asc" },
      take: limit,
    });
    return rows.map(eventView);
  }

  /** Live events of one job; the returned function unsubscribes. */
  async subscribe(jobId: string, listener: Listener): Promise<() => Promise<void>> {
    const subscriber = await this.subscriberConnection();
    let set = this.listeners.get(jobId);
    if (!set) {
      set = new Set();
      this.listeners.set(jobId, set);
      await subscriber.subscribe(channelOf(jobId));
    }
    set.add(listener);
    return async () => {
      const current = this.listeners.get(jobId);
      current?.delete(listener);
      if (current && current.size === 0) {
        this.listeners.delete(jobId);
        await subscriber.unsubscribe(channelOf(jobId));
      }
    };
  }

  async close(): Promise<void> {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }

  private async subscriberConnection(): Promise<Redis> {
    if (this.subscriber) return this.subscriber;
    // A subscribed connection can do nothing else, so it is a duplicate of the shared one.
    const subscriber = this.redis.duplicate();
    subscriber.on("message", (channel: string, message: string) => {
      const jobId = channel.slice("job-events:".length);
      const event = JSON.parse(message) as JobEventView;
      for (const listener of this.listeners.get(jobId) ?? []) listener(event);
    });
    this.subscriber = subscriber;
    return subscriber;
  }
}
