// Several API processes share one Postgres, Redis and chain; the loops that move jobs along (the
// verification driver, dispatching, the chain event watcher) must run in one of them at a time.
// The leader is the process holding a session-level Postgres advisory lock on a connection of its
// own: Postgres releases the lock the moment that session ends (the process is killed, the
// connection drops, Postgres restarts), so a standby that keeps trying takes over within one retry
// period. The leader checks its session every period as well, and steps down (stops its loops) as
// soon as the check fails, before a successor can have been elected for longer than that period.
// Every step the loops take is idempotent and guarded in the database, so the short overlap a
// network partition can cause only repeats work; it never doubles it.
import pg from "pg";
import { parseDatabaseUrl } from "../../prisma/pool.ts";

export interface LeadershipOptions {
  databaseUrl: string;
  /** How often a standby tries to take the lock and the leader checks it still holds it. */
  periodMs?: number;
  /** Starts the loops; called once per term, before `isLeader` turns true. */
  onElected: () => Promise<void>;
  /** Stops the loops; called once per term, when the term ends for any reason. */
  onDeposed: () => Promise<void>;
  logError: (error: unknown, message: string) => void;
}

const DEFAULT_PERIOD_MS = 1_000;

// One lock per deployment: deployments (and test files) sharing a database use their own schemas.
const TRY_LOCK =
  "SELECT pg_try_advisory_lock(hashtextextended('veritrain:leader:' || current_schema(), 0)) AS held";

export class Leadership {
  private session: pg.Client | null = null;
  private leading = false;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private stopped = false;
  private readonly periodMs: number;

  constructor(private readonly options: LeadershipOptions) {
    this.periodMs = options.periodMs ?? DEFAULT_PERIOD_MS;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Tries for the lock now, then every period until `stop`. */
  async start(): Promise<void> {
    await this.runRound();
    this.timer = setInterval(() => void this.runRound(), this.periodMs);
    this.timer.unref();
  }

  /** Ends the term (loops stopped, lock released) and stops trying. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.round;
    await this.stepDown();
  }

  private runRound(): Promise<void> {
    this.round ??= (this.leading ? this.checkTerm() : this.tryToLead())
      .catch((error: unknown) => this.options.logError(error, "leader election round failed"))
      .finally(() => {
        this.round = null;
      });
    return this.round;
  }

  private async tryToLead(): Promise<void> {
    if (this.stopped) return;
    const session = await this.connect();
    const { rows } = await session.query<{ held: boolean }>(TRY_LOCK);
    if (!rows[0]?.held) return;
    try {
      await this.options.onElected();
      this.leading = true;
    } catch (error) {
      await this.stepDown();
      throw error;
    }
  }

  private async checkTerm(): Promise<void> {
    // A session lock lasts as long as its session: a session that still answers still holds it.
    try {
      if (!this.session) throw new Error("the leader's session is gone");
      await this.session.query("SELECT 1");
    } catch (error) {
      this.options.logError(error, "the leader's session failed; stepping down");
      await this.stepDown();
    }
  }

  private async connect(): Promise<pg.Client> {
    if (this.session) return this.session;
    const { connectionString, schema } = parseDatabaseUrl(this.options.databaseUrl);
    const session = new pg.Client({
      connectionString,
      keepAlive: true,
      connectionTimeoutMillis: 5_000,
      // A session that stops answering (a partition, a frozen server) fails the check in time.
      query_timeout: Math.max(2_000, 3 * this.periodMs),
      ...(schema === "public" ? {} : { options: `-c search_path="${schema}"` }),
    });
    // A lost session loses the lock: the term ends at once, not at the next check.
    session.on("error", () => void this.stepDown());
    session.on("end", () => void this.stepDown());
    this.session = session;
    try {
      await session.connect();
    } catch (error) {
      this.session = null;
      session.removeAllListeners();
      throw error;
    }
    return session;
  }

  /** Stops the loops first, then ends the session, which releases the lock. */
  private async stepDown(): Promise<void> {
    const session = this.session;
    const wasLeading = this.leading;
    this.leading = false;
    this.session = null;
    if (wasLeading) {
      await this.options
        .onDeposed()
        .catch((error: unknown) => this.options.logError(error, "stopping the leader's loops failed"));
    }
    if (session) {
      session.removeAllListeners();
      session.on("error", () => undefined);
      await session.end().catch(() => undefined);
    }
  }
}
