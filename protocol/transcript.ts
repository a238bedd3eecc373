// The strided transcript of an audited segment (chain/PROTOCOL.md §5.4): which steps its leaves
// hash, and where a transcript dispute asks the defender for a state (§6.2). The chain, the
// verifier that builds a transcript and the players of a dispute all use these, so they agree
// on every index without talking to each other.

/**
 * The stride a segment of `length` steps is hashed with: the chain's `transcript_stride`, capped
 * at ⌈length / 2⌉ so that a segment of two or more steps always has a leaf before its end state.
 * That leaf is what a lazy verifier cannot produce and what a forced error alters (§5.5).
 */
export function effectiveStride(stride: bigint, length: bigint): bigint {
  if (stride < 1n) throw new RangeError(`a transcript stride is at least 1, got ${stride}`);
  if (length < 1n) throw new RangeError(`a segment has at least one step, got ${length}`);
  const half = (length + 1n) / 2n;
  return stride < half ? stride : half;
}

/** The strided layout of the transcript of segment (start, end]. */
export class TranscriptLayout {
  /** The stride actually used (effectiveStride). */
  readonly stride: bigint;
  /** n = ⌈(end − start) / stride⌉ leaves. */
  readonly leaves: number;

  constructor(
    readonly start: bigint,
    readonly end: bigint,
    chainStride: bigint,
  ) {
    this.stride = effectiveStride(chainStride, end - start);
    this.leaves = Number((end - start + this.stride - 1n) / this.stride);
  }

  /** The step whose state leaf `index` (0-based) hashes: min(start + (index + 1)·stride, end). */
  stepOf(index: number): bigint {
    const step = this.start + BigInt(index + 1) * this.stride;
    return step < this.end ? step : this.end;
  }

  /** Every leaf's step, in leaf order. */
  steps(): bigint[] {
    return Array.from({ length: this.leaves }, (_, i) => this.stepOf(i));
  }

  /** The leaf that hashes the state after `step`, or null when no leaf does. */
  leafOf(step: bigint): number | null {
    if (step <= this.start || step > this.end) return null;
    if (step === this.end) return this.leaves - 1;
    return (step - this.start) % this.stride === 0n ? Number((step - this.start) / this.stride) - 1 : null;
  }

  /** Whether the segment's transcript has a leaf before its end state to alter (a forced error). */
  get forcible(): boolean {
    return this.leaves >= 2;
  }

  /**
   * Where a dispute over (lo, hi] of this segment asks the defender next: the middle leaf while
   * leaves lie strictly between lo and hi (both then sit on leaves or the agreed start), otherwise
   * the middle step of the one stride window left, whose states no leaf covers.
   */
  bisectionPoint(lo: bigint, hi: bigint): bigint {
    const below = lo === this.start ? -1 : this.leafOf(lo);
    const above = this.leafOf(hi);
    if (below !== null && above !== null && above - below > 1) {
      return this.stepOf(Math.floor((below + above) / 2));
    }
    return (lo + hi) / 2n;
  }
}
