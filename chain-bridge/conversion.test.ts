import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { centsToPlanck, escrowFor, PLANCK_PER_VT, parseTokenRate, planckToCents } from "./conversion.ts";
import { BridgeError } from "./errors.ts";

describe("token rate", () => {
  it("keeps the decimal string and its exact fraction", () => {
    assert.deepEqual(parseTokenRate("0.01"), { usdPerVt: "0.01", units: 1n, scale: 2 });
    assert.deepEqual(parseTokenRate("12.500000000001"), {
      usdPerVt: "12.500000000001",
      units: 12500000000001n,
      scale: 12,
    });
  });

  for (const bad of ["", "0", "0.000", "-1", "1e3", "0.1234567890123", "1,5", "abc", ".5"]) {
    it(`rejects "${bad}" with a typed error`, () => {
      assert.throws(
        () => parseTokenRate(bad),
        (error: unknown) => error instanceof BridgeError && error.code === "INVALID_AMOUNT",
      );
    });
  }
});

describe("cents and planck", () => {
  it("converts exactly when the rate divides evenly", () => {
    const cent = parseTokenRate("0.01");
    assert.equal(centsToPlanck(100n, cent, "up").planck, 100n * PLANCK_PER_VT);
    assert.equal(planckToCents(100n * PLANCK_PER_VT, cent, "down").cents, 100n);
  });

  it("rounds escrow up so the tokens cover the dollars, and says which rate it used", () => {
    const rate = parseTokenRate("3");
    const escrow = escrowFor(100n, rate);
    assert.equal(escrow.planck, 333_333_333_334n);
    assert.equal(escrow.rate, rate);
    assert.equal(centsToPlanck(100n, rate, "down").planck, 333_333_333_333n);
    assert.equal(planckToCents(escrow.planck, rate, "down").cents, 100n);
    assert.equal(planckToCents(escrow.planck, rate, "up").cents, 101n);
  });

  it("never escrows less than the dollars are worth, for many amounts and rates", () => {
    for (const text of ["0.01", "0.37", "3", "1234.567890123456"]) {
      const rate = parseTokenRate(text);
      for (let cents = 0n; cents < 2_000n; cents += 7n) {
        const { planck } = escrowFor(cents, rate);
        assert.equal(planckToCents(planck, rate, "down").cents, cents, `${cents} cents at ${text}`);
        if (planck > 0n) assert.ok(planckToCents(planck - 1n, rate, "up").cents <= cents);
      }
    }
  });

  it("handles amounts far beyond 2^53", () => {
    const rate = parseTokenRate("0.000000000001");
    const cents = 10n ** 15n;
    assert.equal(centsToPlanck(cents, rate, "up").planck, cents * 10n ** 22n);
  });

  it("refuses negative amounts", () => {
    const rate = parseTokenRate("1");
    assert.throws(() => centsToPlanck(-1n, rate, "up"), BridgeError);
    assert.throws(() => planckToCents(-1n, rate, "down"), BridgeError);
  });
});
