// The order samples are seen in. Every epoch starts from the generator state saved in the
// checkpoint, so the position (epoch, batch, generator state at the epoch's start) is all a
// resumed run needs to see exactly the batches an uninterrupted run would have seen.
import type { DataPosition } from "../../../protocol/checkpoint.ts";
import { Xoshiro128 } from "./prng.ts";

export type { DataPosition };

export interface BatchPlan {
  samples: number;
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
}

export function batchesPerEpoch(plan: BatchPlan): number {
  return plan.dropLast ? Math.floor(plan.samples / plan.batchSize) : Math.ceil(plan.samples / plan.batchSize);
}

export class BatchOrder {
  private readonly perEpoch: number;
  private epoch: number;
  private batch: number;
  private rngAtEpochStart: Uint32Array;
  private rngAfterShuffle: Uint32Array;
  private order: Uint32Array;

  constructor(
    private readonly plan: BatchPlan,
    position: DataPosition,
  ) {
    this.perEpoch = batchesPerEpoch(plan);
    this.epoch = position.epoch;
    this.batch = position.batch;
    this.rngAtEpochStart = Uint32Array.from(position.rngAtEpochStart);
    [this.order, this.rngAfterShuffle] = this.shuffle(this.rngAtEpochStart);
  }

  /** Where the next call to next() reads from: what a checkpoint stores. */
  position(): DataPosition {
    return { epoch: this.epoch, batch: this.batch, rngAtEpochStart: Uint32Array.from(this.rngAtEpochStart) };
  }

  /** The sample indices of the next batch, moving to the next epoch (and reshuffling) when needed. */
  next(): { epoch: number; indices: Uint32Array } {
    if (this.batch >= this.perEpoch) {
      this.epoch += 1;
      this.batch = 0;
      this.rngAtEpochStart = this.rngAfterShuffle;
      [this.order, this.rngAfterShuffle] = this.shuffle(this.rngAtEpochStart);
    }
    const start = this.batch * this.plan.batchSize;
    const indices = this.order.subarray(start, Math.min(start + this.plan.batchSize, this.plan.samples));
    this.batch += 1;
    return { epoch: this.epoch, indices };
  }

  private shuffle(state: Uint32Array): [Uint32Array, Uint32Array] {
    if (!this.plan.shuffle) return [Uint32Array.from({ length: this.plan.samples }, (_, i) => i), state];
    const rng = Xoshiro128.fromState(state);
    return [rng.permutation(this.plan.samples), rng.state()];
  }
}
