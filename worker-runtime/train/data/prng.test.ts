import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Xoshiro128 } from "./prng.ts";

describe("Xoshiro128", () => {
  it("follows the reference algorithm from a known state", () => {
    // State (1, 2, 3, 4); the first output is rotl(2 * 5, 7) * 9 = 11520, the rest follow the same update.
    const rng = Xoshiro128.fromState([1, 2, 3, 4]);
    assert.equal(rng.nextU32(), 11520);
    assert.equal(rng.nextU32(), 0);
    assert.equal(rng.nextU32(), 5927040);
  });

  it("is reproducible from a seed and from a saved state", () => {
    const a = Xoshiro128.fromSeed(42);
    a.permutation(100);
    const saved = a.state();
    const next = a.permutation(50);
    assert.deepEqual(Xoshiro128.fromState(saved).permutation(50), next);
    assert.deepEqual(Xoshiro128.fromSeed(42).state(), Xoshiro128.fromSeed(42).state());
    assert.notDeepEqual(Xoshiro128.fromSeed(42).state(), Xoshiro128.fromSeed(43).state());
  });

  it("permutes without losing or repeating an index", () => {
    const order = Xoshiro128.fromSeed(1).permutation(1000);
    assert.deepEqual(
      Array.from(order).sort((x, y) => x - y),
      Array.from({ length: 1000 }, (_, i) => i),
    );
  });

  it("draws below a bound uniformly enough", () => {
    const rng = Xoshiro128.fromSeed(9);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[rng.below(6)]++;
    for (const c of counts) assert.ok(Math.abs(c - 10000) < 400, `count ${c}`);
  });

  it("refuses the all-zero state", () => {
    assert.throws(() => Xoshiro128.fromState([0, 0, 0, 0]), RangeError);
  });
});
