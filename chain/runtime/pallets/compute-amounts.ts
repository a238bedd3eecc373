// Integer arithmetic on planck amounts (bigint, so Math.min and friends do not apply).

/** ⌊amount × percent / 100⌋. */
export function percentOf(amount: bigint, percent: number): bigint {
  return (amount * BigInt(percent)) / 100n;
}

export function lesser(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
