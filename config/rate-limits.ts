// The request budgets of each route family (api/plugins/rate-limits.ts applies them). Counted in
// Redis, so every API instance draws on the same budget.

export const RATE_LIMIT_FAMILIES = [
  /** POST /v1/auth/login, per client address: what a password sprayer spends. */
  "login_address",
  /** POST /v1/auth/login, per account: what a guesser of one password spends, from anywhere. */
  "login_account",
  /** POST /v1/auth/signup, per client address. */
  "signup",
  /** POST /v1/files, per organization. */
  "uploads",
  /** POST /v1/training-jobs/quote and /v1/training-jobs/sweeps/quote, per organization. */
  "quotes",
  /** POST /v1/training-jobs and /v1/training-jobs/sweeps, per organization. */
  "job_creation",
  /** Every other GET of an authenticated caller, per organization. */
  "reads",
  /** Every other write of an authenticated caller, per organization. */
  "writes",
  /** /v1/nodes/..., per node key. */
  "node_gateway",
  /** Whatever no caller identity covers (health, the portal, the document), per client address. */
  "public",
] as const;
export type RateLimitFamily = (typeof RATE_LIMIT_FAMILIES)[number];

export interface RateLimit {
  max: number;
  windowMs: number;
}

const MINUTE = 60_000;

export const DEFAULT_RATE_LIMITS: Record<RateLimitFamily, RateLimit> = {
  login_address: { max: 30, windowMs: MINUTE },
  // A victim locked out by someone guessing at their account waits at most one window.
  login_account: { max: 10, windowMs: MINUTE },
  signup: { max: 20, windowMs: 10 * MINUTE },
  uploads: { max: 60, windowMs: MINUTE },
  quotes: { max: 60, windowMs: MINUTE },
  job_creation: { max: 30, windowMs: MINUTE },
  reads: { max: 1_200, windowMs: MINUTE },
  writes: { max: 300, windowMs: MINUTE },
  // Heartbeats, progress reports and checkpoint uploads of a fast-training worker.
  node_gateway: { max: 3_000, windowMs: MINUTE },
  public: { max: 600, windowMs: MINUTE },
};
