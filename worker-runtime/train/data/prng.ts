// xoshiro128** 1.1 (Blackman & Vigna): a small, fast, well-tested generator on 32-bit words, so
// it is exact in JavaScript without BigInt and easy to re-implement anywhere (the fixture
// script has a Python twin). Its whole state is four words, stored in every checkpoint.
// Seeding expands the seed with SplitMix64, as the authors recommend, into (lo, hi, lo, hi).

const MASK64 = (1n << 64n) - 1n;

function splitMix64Words(seed: number): Uint32Array {
  const words = new Uint32Array(4);
  let x = BigInt(seed) & MASK64;
  for (let i = 0; i < 2; i++) {
    x = (x + 0x9e3779b97f4a7c15n) & MASK64;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    z ^= z >> 31n;
    words[2 * i] = Number(z & 0xffffffffn);
    words[2 * i + 1] = Number(z >> 32n);
  }
  return words;
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

export class Xoshiro128 {
  private readonly s: Uint32Array;

  private constructor(state: Uint32Array) {
    this.s = state;
  }

  static fromSeed(seed: number): Xoshiro128 {
    return new Xoshiro128(splitMix64Words(seed));
  }

  static fromState(state: ArrayLike<number>): Xoshiro128 {
    if (state.length !== 4 || Array.from(state).every((w) => w === 0)) {
      throw new RangeError("a xoshiro128** state is four 32-bit words, not all zero");
    }
    return new Xoshiro128(Uint32Array.from(state));
  }

  /** A copy of the four state words. */
  state(): Uint32Array {
    return Uint32Array.from(this.s);
  }

  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform integer in [0, bound) without modulo bias (rejection below 2^32 mod bound, as PCG's bounded_rand). */
  below(bound: number): number {
    const threshold = (0x100000000 - bound) % bound;
    for (;;) {
      const r = this.nextU32();
      if (r >= threshold) return r % bound;
    }
  }

  /** Fisher–Yates over 0..n-1, swapping i with below(i + 1) for i from n-1 down to 1. */
  permutation(n: number): Uint32Array {
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const swap = order[i]!;
      order[i] = order[j]!;
      order[j] = swap;
    }
    return order;
  }
}
