// The replays and traces a node's disputes need, computed once and run one at a time, the dispute
// whose turn ends first going first. A replay or trace is CPU-bound (onnxruntime's runs block the
// event loop between steps, on one intra-op thread by default): two at once only interleave and
// make both late, so they queue by deadline instead. Everything else a turn does (chain reads, an
// answer from hashes already computed, claim_timeout, waiting for an extrinsic's inclusion) runs
// beside the queue, so a dispute's cheap turn is never stuck behind another's long replay.
//
// Results are shared by key between the disputes that need the same work (the same segment of the
// same task and attempt, from the same record), and dropped once no open dispute holds them.

/** One computation waiting for the CPU: it starts when no other runs and no earlier deadline waits. */
interface Ticket {
  deadline: number;
  /** Order of arrival, so equal deadlines keep it. */
  order: number;
  start: () => void;
}

/** Runs jobs one at a time, the one with the earliest deadline (a block number) first. */
export class DeadlineQueue {
  readonly #waiting = new Set<Ticket>();
  #running = false;
  #arrivals = 0;

  /** Queues `job`; the returned ticket's deadline may be brought forward while it waits. */
  run<T>(deadline: number, job: () => Promise<T>): { ticket: Ticket; result: Promise<T> } {
    const ticket: Ticket = { deadline, order: this.#arrivals++, start: () => undefined };
    const result = new Promise<T>((resolve, reject) => {
      ticket.start = () => {
        Promise.resolve()
          .then(job)
          .then(resolve, reject)
          .finally(() => {
            this.#running = false;
            this.#next();
          });
      };
    });
    this.#waiting.add(ticket);
    this.#next();
    return { ticket, result };
  }

  #next(): void {
    if (this.#running) return;
    let first: Ticket | undefined;
    for (const ticket of this.#waiting) {
      if (
        !first ||
        ticket.deadline < first.deadline ||
        (ticket.deadline === first.deadline && ticket.order < first.order)
      ) {
        first = ticket;
      }
    }
    if (!first) return;
    this.#waiting.delete(first);
    this.#running = true;
    first.start();
  }
}

interface Shared {
  result: Promise<unknown>;
  ticket: Ticket;
  /** The disputes that asked for it. */
  owners: Set<bigint>;
}

/** The CPU work of every dispute of one node: queued by deadline, shared by key. */
export class DisputeWork {
  readonly #queue = new DeadlineQueue();
  readonly #results = new Map<string, Shared>();

  /**
   * The result of `compute` under `key`, computed once for every dispute asking for it: a dispute
   * with an earlier deadline moves a waiting computation forward. A failure is not kept, so the
   * next turn tries again.
   */
  shared<T>(key: string, owner: bigint, deadline: number, compute: () => Promise<T>): Promise<T> {
    const known = this.#results.get(key);
    if (known) {
      known.owners.add(owner);
      known.ticket.deadline = Math.min(known.ticket.deadline, deadline);
      return known.result as Promise<T>;
    }
    const { ticket, result } = this.#queue.run(deadline, compute);
    const entry: Shared = { result, ticket, owners: new Set([owner]) };
    this.#results.set(key, entry);
    result.catch(() => {
      if (this.#results.get(key) === entry) this.#results.delete(key);
    });
    return result;
  }

  /** Forgets what only the closed dispute `owner` needed. */
  release(owner: bigint): void {
    for (const [key, entry] of this.#results) {
      entry.owners.delete(owner);
      if (entry.owners.size === 0) this.#results.delete(key);
    }
  }

  /** Results kept, for tests and logs. */
  get kept(): number {
    return this.#results.size;
  }
}
