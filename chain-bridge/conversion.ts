// US cents <-> VT planck at the configured rate, in exact integer arithmetic.
//
// The rate is TOKEN_USD_RATE: US dollars per whole VT, a decimal string with at most 12 fraction
// digits, kept as the fraction `units / 10^scale` so no float ever touches money. 1 VT is 10^12
// planck and 1 USD is 100 cents, hence
//   planck = cents * 10^(10 + scale) / units      and      cents = planck * units / 10^(10 + scale).
//
// Rounding is always chosen by the caller, because it decides who carries the remainder:
// - escrow (dollars reserved -> tokens locked) rounds UP, so the escrow always covers the dollars;
// - tokens paid out and charged to the user round UP to cents (the platform never undercharges
//   the tokens it spent), tokens refunded round DOWN (never more dollars back than tokens came
//   back). The remainder is below one cent or one planck either way.
import { BridgeError } from "./errors.ts";

export const PLANCK_PER_VT = 10n ** 12n;
const CENTS_PER_USD = 100n;
const MAX_RATE_SCALE = 12;

export type Rounding = "up" | "down";

/** A parsed TOKEN_USD_RATE: `usdPerVt` is the decimal string recorded with every task. */
export interface TokenRate {
  usdPerVt: string;
  units: bigint;
  scale: number;
}

export interface PlanckAmount {
  planck: bigint;
  rate: TokenRate;
}

export interface CentsAmount {
  cents: bigint;
  rate: TokenRate;
}

const RATE_PATTERN = new RegExp(`^(\\d+)(?:\\.(\\d{1,${MAX_RATE_SCALE}}))?$`);

export function parseTokenRate(usdPerVt: string): TokenRate {
  const match = RATE_PATTERN.exec(usdPerVt.trim());
  if (!match) {
    throw new BridgeError(
      "INVALID_AMOUNT",
      `token rate "${usdPerVt}" is not a decimal number of US dollars per VT ` +
        `(digits, optionally a point and at most ${MAX_RATE_SCALE} fraction digits, e.g. "0.01")`,
    );
  }
  const fraction = match[2] ?? "";
  const units = BigInt(`${match[1]}${fraction}`);
  if (units === 0n) throw new BridgeError("INVALID_AMOUNT", `token rate "${usdPerVt}" must be above zero`);
  return { usdPerVt: usdPerVt.trim(), units, scale: fraction.length };
}

function divide(numerator: bigint, denominator: bigint, rounding: Rounding): bigint {
  const quotient = numerator / denominator;
  return rounding === "up" && quotient * denominator !== numerator ? quotient + 1n : quotient;
}

function nonNegative(value: bigint, what: string): bigint {
  if (value < 0n) throw new BridgeError("INVALID_AMOUNT", `${what} must not be negative, got ${value}`);
  return value;
}

export function centsToPlanck(cents: bigint, rate: TokenRate, rounding: Rounding): PlanckAmount {
  nonNegative(cents, "cents");
  const scaleFactor = 10n ** BigInt(rate.scale);
  const numerator = cents * (PLANCK_PER_VT / CENTS_PER_USD) * scaleFactor;
  return { planck: divide(numerator, rate.units, rounding), rate };
}

export function planckToCents(planck: bigint, rate: TokenRate, rounding: Rounding): CentsAmount {
  nonNegative(planck, "planck");
  const scaleFactor = 10n ** BigInt(rate.scale);
  const denominator = (PLANCK_PER_VT / CENTS_PER_USD) * scaleFactor;
  return { cents: divide(planck * rate.units, denominator, rounding), rate };
}

/** Escrow for a reservation of `cents`: rounded up so the locked tokens always cover the dollars. */
export function escrowFor(cents: bigint, rate: TokenRate): PlanckAmount {
  return centsToPlanck(cents, rate, "up");
}
