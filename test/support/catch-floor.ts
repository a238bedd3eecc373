// Whether a fraud row's catch count is consistent with the audit rule's prediction (issue 10's
// bar): jobs are caught independently, job i with probability p_i, so the count follows a
// Poisson-binomial distribution; a count below its 1 % quantile says the rule over-promises.

/** P(count = k) for k = 0 … n, by adding one job at a time. */
function distribution(probabilities: readonly number[]): number[] {
  let pmf = [1];
  for (const p of probabilities) {
    const next = new Array<number>(pmf.length + 1).fill(0);
    for (const [k, mass] of pmf.entries()) {
      next[k]! += mass * (1 - p);
      next[k + 1]! += mass * p;
    }
    pmf = next;
  }
  return pmf;
}

/** The smallest count k with P(count ≤ k) ≥ `quantile`: fewer catches than this are suspect. */
export function catchFloor(probabilities: readonly number[], quantile = 0.01): number {
  let cumulative = 0;
  for (const [k, mass] of distribution(probabilities).entries()) {
    cumulative += mass;
    // A hair below the quantile, so that rounding in the sum cannot move the floor up a count.
    if (cumulative >= quantile - 1e-12) return k;
  }
  return probabilities.length;
}
