import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { catchFloor } from "./support/catch-floor.ts";

describe("the catch floor of a fraud row", () => {
  it("is every job when every job is certainly caught, and none when none can be", () => {
    assert.equal(catchFloor(Array(10).fill(1)), 10);
    assert.equal(catchFloor(Array(10).fill(0)), 0);
    assert.equal(catchFloor([]), 0);
  });

  it("is the binomial's 1 % quantile for equal chances", () => {
    // Binomial(10, 0.195): P(0) = 0.805^10 ≈ 0.114, already above 1 %.
    assert.equal(catchFloor(Array(10).fill(0.195)), 0);
    // Binomial(10, 0.675): P(≤ 2) ≈ 0.0028, P(≤ 3) ≈ 0.017.
    assert.equal(catchFloor(Array(10).fill(0.675)), 3);
    // Binomial(10, 0.9): P(≤ 6) ≈ 0.0128, P(≤ 5) ≈ 0.0016.
    assert.equal(catchFloor(Array(10).fill(0.9)), 6);
  });

  it("weighs each job by its own chance", () => {
    // One certain catch and one impossible one: exactly one catch, always.
    assert.equal(catchFloor([1, 0]), 1);
    assert.equal(catchFloor([1, 0], 0.5), 1);
    // A stricter quantile never raises the floor.
    assert.ok(catchFloor(Array(20).fill(0.5), 0.001) <= catchFloor(Array(20).fill(0.5), 0.01));
  });
});
