// The whistleblower's choices that need no chain: which verdicts its draw re-checks, and which
// step it names as the first wrong leaf of a transcript it found wrong.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { it } from "node:test";
import { TranscriptLayout } from "../../protocol/transcript.ts";
import { NodeError } from "./errors.ts";
import { checkRecheckShare, firstWrongStep, picksForRecheck } from "./whistleblower.ts";

const keyOf = (seed: string) => createHash("sha256").update(seed).digest();
const picked = (key: Buffer, share: number) =>
  Array.from({ length: 2_000 }, (_, i) => picksForRecheck(key, BigInt(i >> 2), i & 3, share));

it("re-checks about its share of verdicts, the same ones every time, and others than another node", () => {
  const mine = picked(keyOf("//Dave"), 0.5);
  const count = mine.filter(Boolean).length;
  assert.ok(count > 900 && count < 1_100, `picked ${count} of 2000 at share 0.5`);
  assert.deepEqual(picked(keyOf("//Dave"), 0.5), mine);
  const theirs = picked(keyOf("//Eve"), 0.5);
  const shared = mine.filter((p, i) => p && theirs[i]).length;
  assert.ok(shared > 400 && shared < 600, `two nodes' draws are independent: ${shared} in common`);
  assert.equal(picked(keyOf("//Dave"), 0).filter(Boolean).length, 0);
  assert.equal(picked(keyOf("//Dave"), 1).filter(Boolean).length, 2_000);
});

it("refuses a share outside [0, 1]", () => {
  for (const share of [-0.1, 1.5, Number.NaN]) {
    assert.throws(
      () => checkRecheckShare(share),
      (error: unknown) => error instanceof NodeError && error.code === "INVALID_RECHECK_SHARE",
    );
  }
  assert.equal(checkRecheckShare(0.25), 0.25);
});

it("names the segment's end when the verdict's end state is wrong, else the first leaf", () => {
  const layout = new TranscriptLayout(20n, 40n, 16n);
  const replayedEnd = "ab".repeat(32);
  assert.equal(firstWrongStep(layout, `0x${"cd".repeat(32)}`, replayedEnd), 40n);
  assert.equal(firstWrongStep(layout, `0x${replayedEnd}`, replayedEnd), 30n);
});
