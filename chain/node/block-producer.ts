// Seals blocks: instantly when transactions are ready (--block-time 0; transactions that arrive
// while a block is built go into the next one), or on a fixed interval, empty blocks included.
// Each sealed block is finalized FINALITY_LAG_MS later, as GRANDPA follows block production on a
// real chain: clients see InBlock, then Finalized (@polkadot/api drops an InBlock status that
// a Finalized one overtakes before the block's events are fetched).
import type { Chain } from "./chain.ts";
import type { TransactionPool } from "./transaction-pool.ts";

export const FINALITY_LAG_MS = 100;

export class BlockProducer {
  readonly #finalizing = new Set<NodeJS.Timeout>();
  #timer: NodeJS.Timeout | undefined;
  #scheduled: NodeJS.Immediate | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(
    readonly chain: Chain,
    readonly pool: TransactionPool,
    readonly blockTimeMs: number,
  ) {}

  start(): void {
    if (this.blockTimeMs === 0) {
      this.#unsubscribe = this.pool.onReady(() => {
        this.#scheduled ??= setImmediate(() => {
          this.#scheduled = undefined;
          this.seal();
        });
      });
    } else {
      this.#timer = setInterval(() => this.seal(), this.blockTimeMs);
    }
  }

  /** Seals one block with the ready transactions that fit. */
  seal(): void {
    const outcome = this.chain.produceBlock(this.pool.ready());
    this.pool.blockProduced(outcome);
    const finality = setTimeout(() => {
      this.#finalizing.delete(finality);
      this.chain.finalize(outcome.block);
    }, FINALITY_LAG_MS);
    this.#finalizing.add(finality);
    if (this.blockTimeMs === 0 && outcome.deferred.length > 0) {
      this.#scheduled ??= setImmediate(() => {
        this.#scheduled = undefined;
        this.seal();
      });
    }
  }

  stop(): void {
    this.#unsubscribe?.();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    for (const finality of this.#finalizing) clearTimeout(finality);
  }
}
