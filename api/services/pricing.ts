// The price list and the audit rule. A job's compute is measured in FLOPs of its training graph
// times its steps (the protocol's "gas" for ML work); verification re-executes the audited
// segments, so each audited segment costs one segment of compute again, paid to the verifiers.
//
// How many segments are audited follows PROTOCOL.md §2 (docs/verification.md, "Audit rate"): a
// worker that fakes a tenth of the segments must be caught with the level's probability, and
// faking even one segment must lose money in expectation (L/n · fraud slash ≥ payment).

export const VERIFICATION_LEVELS = ["basic", "standard", "thorough"] as const;
export type VerificationLevel = (typeof VERIFICATION_LEVELS)[number];

/** The share of segments the detection targets assume a cheating worker fakes. */
export const FAKED_FRACTION = 0.1;

/** Probability of catching a worker that fakes `FAKED_FRACTION` of the segments, per level. */
export const detectionTargets: Record<VerificationLevel, number> = {
  basic: 0.99,
  standard: 0.999,
  thorough: 0.9999,
};

/**
 * The chain's `verification_level` is a u8: a task takes at most 255 audits. Detection needs far
 * fewer (0.9999 at 10 % faked needs at most 88); only the economic condition on a job whose
 * payment nears the slash asks for more, and the quote then reports the capped detection.
 */
export const MAX_AUDITS = 255;

/**
 * What a worker caught cheating loses, in US cents: `fraud_slash_percent` of `min_worker_stake`
 * at TOKEN_USD_RATE. The default is the documented dev chain (50 % of 1,000 VT at 0.01 USD/VT);
 * production's stakes are ten times larger.
 */
export const DEV_FRAUD_SLASH_CENTS = 500;

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

/** The audit terms a quote states: what is replayed and how likely a cheat is caught. */
export interface AuditTerms {
  level: VerificationLevel;
  segments: number;
  audited_segments: number;
  /** P(caught) for a worker faking `FAKED_FRACTION` of the segments (at least one). */
  detection_probability: number;
}

export function segmentsOf(totalSteps: number, checkpointEvery: number): number {
  return Math.max(1, Math.ceil(totalSteps / checkpointEvery));
}

/** Segments a worker faking `FAKED_FRACTION` of a job fakes: at least one, or it is honest. */
export function fakedSegments(segments: number): number {
  return Math.max(1, Math.ceil(segments * FAKED_FRACTION));
}

/**
 * P(at least one of `faked` segments is among `audited` drawn uniformly without replacement from
 * `segments`) = 1 − C(n−k, m)/C(n, m) = 1 − Π_{i<m} (n−k−i)/(n−i). The product is summed in log
 * space: every factor is below one, so nothing overflows, and a tiny miss probability keeps its
 * precision instead of rounding to 0 early.
 */
export function detectionProbability(segments: number, faked: number, audited: number): number {
  if (audited === 0) return 0;
  if (audited > segments - faked) return 1;
  let logMiss = 0;
  for (let i = 0; i < audited; i++) logMiss += Math.log1p(-faked / (segments - i));
  return -Math.expm1(logMiss);
}

/**
 * The smallest number of audits meeting the level's detection target and the economic condition
 * for a worker paid `paymentCents`, capped at the segments and at `MAX_AUDITS`. Faking one
 * segment is caught with probability m/n, so the condition is m ≥ n · payment / slash.
 */
export function auditedSegments(
  level: VerificationLevel,
  segments: number,
  paymentCents: number,
  fraudSlashCents: number = DEV_FRAUD_SLASH_CENTS,
): number {
  const cap = Math.min(segments, MAX_AUDITS);
  const economic = Math.ceil((segments * paymentCents) / fraudSlashCents);
  const faked = fakedSegments(segments);
  let audited = Math.min(cap, Math.max(1, economic));
  while (audited < cap && detectionProbability(segments, faked, audited) < detectionTargets[level]) {
    audited++;
  }
  return audited;
}

export function auditTerms(level: VerificationLevel, segments: number, audited: number): AuditTerms {
  return {
    level,
    segments,
    audited_segments: audited,
    detection_probability: detectionProbability(segments, fakedSegments(segments), audited),
  };
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
  const computeCents = Math.ceil(compute);
  // The worker is paid the compute: that is what faking saves at most and what the slash must beat.
  const audited = auditedSegments(level, segments, computeCents);
  const verificationCents = Math.ceil(compute * (audited / segments));
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
