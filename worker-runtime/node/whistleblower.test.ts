// The whistleblower's choices that need no chain: which verdicts its draw re-checks, and which
// step it names as the first wrong leaf of a transcript it found wrong, with and without the
// leaves its verifier published.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { it } from "node:test";
import { merkleRoot } from "../../protocol/merkle.ts";
import { TranscriptLayout } from "../../protocol/transcript.ts";
import { NodeError } from "./errors.ts";
import { checkRecheckShare, firstWrongStep, picksForRecheck, verdictLeaves } from "./whistleblower.ts";

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

const leaf = (byte: string) => byte.repeat(32);

it("names the first published leaf that differs from the replay's", () => {
  const layout = new TranscriptLayout(20n, 40n, 5n);
  const replayed = [leaf("01"), leaf("02"), leaf("03"), leaf("04")];
  const draw = { key: keyOf("//Dave"), chainTaskId: 3n, auditIndex: 0 };
  const endState = `0x${replayed[3]}`;
  // A verifier that replayed to its first leaf and invented the next two.
  const skimmed = [replayed[0]!, replayed[3]!, replayed[3]!, replayed[3]!];
  assert.equal(firstWrongStep(layout, replayed, { endState, published: skimmed }, draw), 30n);
  // A wrong end state with true leaves before it.
  const wrongEnd = [...replayed.slice(0, 3), leaf("ff")];
  assert.equal(
    firstWrongStep(layout, replayed, { endState: `0x${leaf("ff")}`, published: wrongEnd }, draw),
    40n,
  );
});

it("without published leaves, names the end when it is wrong, else a leaf before it drawn with its key", () => {
  const layout = new TranscriptLayout(20n, 40n, 5n);
  const replayed = [leaf("01"), leaf("02"), leaf("03"), leaf("04")];
  const unpublished = (endState: string, seed: string, auditIndex: number) =>
    firstWrongStep(
      layout,
      replayed,
      { endState, published: null },
      {
        key: keyOf(seed),
        chainTaskId: 3n,
        auditIndex,
      },
    );
  assert.equal(unpublished(`0x${leaf("ff")}`, "//Dave", 0), 40n);
  const named = Array.from({ length: 200 }, (_, i) => unpublished(`0x${replayed[3]}`, "//Dave", i));
  assert.deepEqual([...new Set(named)].sort(), [25n, 30n, 35n], "every leaf before the end is drawn");
  assert.deepEqual(
    Array.from({ length: 200 }, (_, i) => unpublished(`0x${replayed[3]}`, "//Dave", i)),
    named,
    "the same draw every time",
  );
  const theirs = Array.from({ length: 200 }, (_, i) => unpublished(`0x${replayed[3]}`, "//Eve", i));
  assert.notDeepEqual(theirs, named, "another whistleblower draws otherwise");
});

it("takes published leaves only when they are the verdict's: its root, its count", () => {
  const layout = new TranscriptLayout(20n, 40n, 5n);
  const leaves = [leaf("01"), leaf("02"), leaf("03"), leaf("04")];
  const root = `0x${Buffer.from(merkleRoot(leaves.map((l) => Buffer.from(l, "hex")))).toString("hex")}`;
  assert.deepEqual(verdictLeaves(layout, root, leaves), leaves);
  assert.equal(verdictLeaves(layout, root, [...leaves.slice(0, 3), leaf("05")]), null);
  assert.equal(verdictLeaves(layout, root, leaves.slice(1)), null);
  assert.equal(verdictLeaves(layout, root, null), null);
});
