// Seals blocks: instantly when transactions are ready (--block-time 0; transactions that arrive
// while a block is built go into the next one), on a fixed interval, empty blocks included, or
// only when asked (manual seal: engine_createBlock, as Substrate's --sealing manual).
// Each sealed block is finalized FINALITY_LAG_MS later, as GRANDPA follows block production on a
// real chain: clients see InBlock, then Finalized (@polkadot/api drops an InBlock status that
// a Finalized one overtakes before the block's events are fetched).
import type { BlockRecord, Chain } from "./chain.ts";
import type { TransactionPool } from "./transaction-pool.ts";

export const FINALITY_LAG_MS = 100;

/** When blocks are sealed: as transactions arrive, every `intervalMs`, or only on request. */
export type Sealing =
  | { readonly kind: "instant" }
  | { readonly kind: "interval"; readonly intervalMs: number }
  | { readonly kind: "manual" };

export class BlockProducer {
  readonly #finalizing = new Set<NodeJS.Timeout>();
  #timer: NodeJS.Timeout | undefined;
  #scheduled: NodeJS.Immediate | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(
    readonly chain: Chain,
    readonly pool: TransactionPool,
    readonly sealing: Sealing,
  ) {}

  start(): void {
    if (this.sealing.kind === "instant") {
      this.#unsubscribe = this.pool.onReady(() => {
        this.#scheduled ??= setImmediate(() => {
          this.#scheduled = undefined;
          this.seal();
        });
      });
    } else if (this.sealing.kind === "interval") {
      this.#timer = setInterval(() => this.seal(), this.sealing.intervalMs);
    }
  }

  /**
   * Seals one block with the ready transactions that fit. `finalizeNow` finalizes it at once
   * instead of after the lag (the chain never leaves a block unfinalized: it has no forks).
   */
  seal(finalizeNow = false): BlockRecord {
    const outcome = this.chain.produceBlock(this.pool.ready());
    this.pool.blockProduced(outcome);
    if (finalizeNow) {
      this.chain.finalize(outcome.block);
    } else {
      const finality = setTimeout(() => {
        this.#finalizing.delete(finality);
        this.chain.finalize(outcome.block);
      }, FINALITY_LAG_MS);
      this.#finalizing.add(finality);
    }
    if (this.sealing.kind === "instant" && outcome.deferred.length > 0) {
      this.#scheduled ??= setImmediate(() => {
        this.#scheduled = undefined;
        this.seal();
      });
    }
    return outcome.block;
  }

  stop(): void {
    this.#unsubscribe?.();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    for (const finality of this.#finalizing) clearTimeout(finality);
  }
}
