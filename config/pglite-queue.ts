// PGlite is one Postgres session, shared by every socket the embedded server accepts. The
// socket server's own queue runs one protocol message at a time from whichever connection sent
// it, so one client's Parse can land between another's Parse and Bind ("bind message supplies 3
// parameters, but prepared statement "" requires 2") and a transaction can take in another
// client's statements. This queue keeps each client's messages together up to the point where
// Postgres answers ReadyForQuery (Sync, a simple Query, ...), and while a client's transaction is
// open, runs that client's messages only.
import type { PGlite } from "@electric-sql/pglite";

interface Pending {
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
}

interface Batch {
  handlerId: number;
  messages: Pending[];
  resolve: (bytes: number) => void;
  reject: (error: unknown) => void;
}

/** Extended-protocol messages Postgres answers only at the next Sync (or Flush). */
const DEFERRED = new Set(["P", "B", "D", "E", "C"].map((c) => c.charCodeAt(0)));

export class SessionQueue {
  private readonly open = new Map<number, Pending[]>();
  private readonly ready: Batch[] = [];
  /** The connection whose transaction is open: only its messages may run. */
  private owner: number | null = null;
  private running = false;

  constructor(private readonly db: PGlite) {}

  /**
   * Takes one message of a connection. A message Postgres defers is held (and acknowledged at
   * once, so the connection reads its next one); the next message completes the batch and runs.
   */
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    const messages = this.open.get(handlerId) ?? [];
    messages.push({ message, onData });
    if (DEFERRED.has(message[0]!)) {
      this.open.set(handlerId, messages);
      return Promise.resolve(0);
    }
    this.open.delete(handlerId);
    return new Promise((resolve, reject) => {
      this.ready.push({ handlerId, messages, resolve, reject });
      void this.run();
    });
  }

  getQueueLength(): number {
    return this.ready.length;
  }

  clearQueueForHandler(handlerId: number): void {
    this.open.delete(handlerId);
    for (let i = this.ready.length - 1; i >= 0; i--) {
      if (this.ready[i]!.handlerId !== handlerId) continue;
      this.ready.splice(i, 1)[0]!.reject(new Error("Handler disconnected"));
    }
  }

  /** A connection that went away inside its transaction leaves it rolled back. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    if (this.db.isInTransaction()) await this.db.exec("ROLLBACK");
    this.owner = null;
    await this.run();
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const index = this.owner === null ? 0 : this.ready.findIndex((b) => b.handlerId === this.owner);
        if (index < 0 || index >= this.ready.length) return;
        const batch = this.ready.splice(index, 1)[0]!;
        let bytes = 0;
        let failure: { error: unknown } | undefined;
        try {
          await this.db.runExclusive(async () => {
            for (const { message, onData } of batch.messages) {
              await this.db.execProtocolRawStream(message, {
                onRawData: (data) => {
                  bytes += data.length;
                  onData(data);
                },
              });
            }
          });
        } catch (error) {
          failure = { error };
        }
        this.owner = this.db.isInTransaction() ? batch.handlerId : null;
        if (failure) batch.reject(failure.error);
        else batch.resolve(bytes);
      }
    } finally {
      this.running = false;
    }
  }
}
