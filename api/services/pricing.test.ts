import assert from "node:assert/strict";
import { test } from "node:test";
import { DEV_PARAMETERS } from "../../chain/index.ts";
import {
  auditedSegments,
  DEV_FRAUD_SLASH_CENTS,
  detectionProbability,
  detectionTargets,
  fakedSegments,
  MAX_AUDITS,
  priceOf,
  VERIFICATION_LEVELS,
} from "./pricing.ts";

const VT = 1_000_000_000_000n;

test("detection matches the hypergeometric miss probability and never overflows", () => {
  // C(8, 2)/C(10, 2) = 28/45 of the draws miss both faked segments.
  assert.ok(Math.abs(detectionProbability(10, 2, 2) - (1 - 28 / 45)) < 1e-12);
  assert.equal(detectionProbability(10, 1, 0), 0);
  assert.equal(detectionProbability(10, 3, 8), 1, "more audits than honest segments always hit one");
  const huge = detectionProbability(1_000_000, 100_000, 255);
  assert.ok(huge > 0.999_999_999 && huge <= 1);
});

test("a 450-segment job: basic catches a worker faking 10% with 99% for at most 10% extra compute", () => {
  const audited = auditedSegments("basic", 450, 0);
  assert.ok(detectionProbability(450, 45, audited) >= 0.99);
  assert.ok(audited / 450 <= 0.1, `${audited} audits`);
  assert.equal(audited, 42, "the smallest count meeting the target");
  assert.ok(detectionProbability(450, 45, audited - 1) < 0.99);
});

test("audits grow with the level and the payment, meet each level's target, and never exceed the segments", () => {
  for (const segments of [1, 2, 5, 20, 100, 450, 2000, 100_000]) {
    let previous = 0;
    for (const level of VERIFICATION_LEVELS) {
      const audited = auditedSegments(level, segments, 0);
      assert.ok(audited >= previous && audited >= 1 && audited <= segments, `${level} ${segments}`);
      const detection = detectionProbability(segments, fakedSegments(segments), audited);
      assert.ok(detection >= detectionTargets[level] || audited === segments, `${level} ${segments}`);
      previous = audited;
    }
  }
  for (let audited = 1; audited <= 450; audited++) {
    assert.ok(detectionProbability(450, 45, audited) >= detectionProbability(450, 45, audited - 1));
  }
  for (let payment = 0; payment <= 1_000; payment += 50) {
    assert.ok(auditedSegments("basic", 450, payment + 50) >= auditedSegments("basic", 450, payment));
  }
});

test("with the dev chain's stakes, faking one segment loses money in expectation", () => {
  const slashCents = Number(
    (DEV_PARAMETERS.minWorkerStake * BigInt(DEV_PARAMETERS.fraudSlashPercent)) / 100n / VT,
  );
  // TOKEN_USD_RATE's default is 0.01 USD per VT: one VT is one cent.
  assert.equal(slashCents, DEV_FRAUD_SLASH_CENTS);
  for (const [segments, payment] of [
    [450, 100],
    [450, 280],
    [20, 300],
    [2000, 50],
  ] as const) {
    const audited = auditedSegments("basic", segments, payment);
    assert.ok((audited / segments) * slashCents >= payment, `${segments} segments paying ${payment}`);
  }
  assert.equal(auditedSegments("basic", 100, 10_000), 100, "a payment above the slash audits everything");
  assert.equal(auditedSegments("basic", 2000, 10_000), MAX_AUDITS, "the chain takes at most 255");
});

test("the verification price scales with the audited segments", () => {
  // 450 segments of 100 steps at 10^8 FLOPs: 9 cents of compute, far below the slash.
  const basic = priceOf(1e8, 45_000, 100, "basic");
  const thorough = priceOf(1e8, 45_000, 100, "thorough");
  assert.equal(basic.compute_cents, 9);
  assert.equal(basic.audited_segments, 42);
  assert.equal(thorough.verification_cents, Math.ceil((9 * thorough.audited_segments) / 450));
  assert.ok(thorough.audited_segments > basic.audited_segments);
});
