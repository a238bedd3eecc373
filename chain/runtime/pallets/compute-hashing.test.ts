// The pallet's hash derivations: draws are distinct and in range, the forced-error test hits its
// rate, commitments open only with their secret, and the cumulative hash is a hash chain.
import assert from "node:assert/strict";
import { test } from "node:test";
import { blake2AsHex } from "@polkadot/util-crypto";
import {
  commitmentOf,
  cumulativeNext,
  cumulativeStart,
  isForcedError,
  opensCommitment,
  RandomStream,
} from "./compute-hashing.ts";

test("a random stream draws distinct indices in range, the same ones for the same seed", () => {
  const seed = blake2AsHex("seed", 256);
  const picked = new RandomStream(seed).distinct(5, 8);
  assert.equal(new Set(picked).size, 5);
  assert.ok(picked.every((i) => Number.isInteger(i) && i >= 0 && i < 8));
  assert.deepEqual(new RandomStream(seed).distinct(5, 8), picked);
  assert.deepEqual(new RandomStream(seed).distinct(9, 3).sort(), [0, 1, 2], "never more than the range");
  assert.notDeepEqual(
    new RandomStream(blake2AsHex("other", 256)).distinct(8, 8),
    new RandomStream(seed).distinct(8, 8),
  );
});

test("forced errors occur at the configured rate and never at 0 ppm or always at 10^6 ppm", () => {
  const seed = blake2AsHex("audit seed", 256);
  const secrets = Array.from({ length: 20_000 }, (_, i) => blake2AsHex(`secret ${i}`, 256));
  const forced = secrets.filter((secret) => isForcedError(secret, seed, 7n, 0, 100_000)).length;
  // 10 % of 20,000 with a binomial standard deviation of about 42.
  assert.ok(Math.abs(forced - 2_000) < 250, `${forced} forced audits out of 20,000 at 10 %`);
  assert.ok(secrets.every((secret) => !isForcedError(secret, seed, 7n, 0, 0)));
  assert.ok(secrets.every((secret) => isForcedError(secret, seed, 7n, 0, 1_000_000)));
});

test("a forced-error commitment opens with its secret only", () => {
  const secret = blake2AsHex("verifier secret", 256);
  assert.ok(opensCommitment(secret, commitmentOf(secret)));
  assert.ok(!opensCommitment(blake2AsHex("guess", 256), commitmentOf(secret)));
});

test("cumulative operator hashes chain from a start that depends on the step", () => {
  assert.notEqual(cumulativeStart(3n), cumulativeStart(4n));
  const output = blake2AsHex("operator output", 256);
  assert.equal(cumulativeNext(cumulativeStart(3n), output).length, 66);
  assert.notEqual(cumulativeNext(cumulativeStart(3n), output), cumulativeNext(cumulativeStart(4n), output));
});
