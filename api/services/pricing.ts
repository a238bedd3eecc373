// The price list. A job's compute is measured in FLOPs of its training graph times its steps
// (the protocol's "gas" for ML work); verification re-executes a share of the segments, so it
// costs that share of the compute again, paid to the verifiers.

export const VERIFICATION_LEVELS = ["basic", "standard", "thorough"] as const;
export type VerificationLevel = (typeof VERIFICATION_LEVELS)[number];

export interface VerificationTerms {
  /** Fraction of checkpoint segments replayed by verifiers. */
  auditedFraction: number;
  /** Independent verifiers per audited segment. */
  verifiersPerSegment: number;
  /** Audited segments, at least. */
  minimumSegments: number;
}

export const verificationTerms: Record<VerificationLevel, VerificationTerms> = {
  basic: { auditedFraction: 0.1, verifiersPerSegment: 1, minimumSegments: 1 },
  standard: { auditedFraction: 0.25, verifiersPerSegment: 1, minimumSegments: 2 },
  thorough: { auditedFraction: 0.5, verifiersPerSegment: 2, minimumSegments: 4 },
};

export const priceList = {
  /** US cents per 10^12 FLOPs of training compute. */
  centsPerTeraflop: 2,
  /** The platform's margin on compute and verification. */
  platformFeeFraction: 0.2,
  /** No job costs less: it covers the chain fees of escrow, commit, audits and settlement. */
  minimumCents: 25,
} as const;

export interface Price {
  compute_cents: number;
  verification_cents: number;
  platform_fee_cents: number;
  total_cents: number;
  audited_segments: number;
}

export function segmentsOf(totalSteps: number, checkpointEvery: number): number {
  return Math.max(1, Math.ceil(totalSteps / checkpointEvery));
}

export function auditedSegments(level: VerificationLevel, segments: number): number {
  const terms = verificationTerms[level];
  return Math.min(segments, Math.max(terms.minimumSegments, Math.ceil(segments * terms.auditedFraction)));
}

/** Every component is rounded up to whole cents, so the price always covers the cost. */
export function priceOf(
  flopsPerStep: number,
  steps: number,
  checkpointEvery: number,
  level: VerificationLevel,
): Price {
  const compute = (flopsPerStep * steps * priceList.centsPerTeraflop) / 1e12;
  const segments = segmentsOf(steps, checkpointEvery);
  const audited = auditedSegments(level, segments);
  const verification = compute * (audited / segments) * verificationTerms[level].verifiersPerSegment;
  const computeCents = Math.ceil(compute);
  const verificationCents = Math.ceil(verification);
  const feeCents = Math.ceil((computeCents + verificationCents) * priceList.platformFeeFraction);
  const total = Math.max(priceList.minimumCents, computeCents + verificationCents + feeCents);
  return {
    compute_cents: computeCents,
    verification_cents: verificationCents,
    platform_fee_cents: total - computeCents - verificationCents,
    total_cents: total,
    audited_segments: audited,
  };
}
