// Published evidence reads back exactly as written, and a bundle whose bytes no longer match the
// SHA-256 kept beside it is not handed to the referee.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import type { OperatorEvidence } from "../train/pinpoint.ts";
import { decodeEvidence, encodeEvidence, publishEvidence, publishedEvidence } from "./dispute-evidence.ts";

const root = mkdtempSync(join(tmpdir(), "veritrain-evidence-"));
after(() => rmSync(root, { recursive: true, force: true }));

const evidence: OperatorEvidence = {
  step: 7,
  node: 3,
  name: "fc1/Gemm",
  opType: "Gemm",
  agreedCheckpoint: Uint8Array.from([1, 2, 3, 4]),
  inputs: new Map([
    ["x", { dtype: "float32", dims: [2, 2], data: Float32Array.from([0.5, -1, 3.25, 1e-8]) }],
    ["i", { dtype: "int64", dims: [1], data: BigInt64Array.from([-9n]) }],
  ]),
  outputHashes: ["aa".repeat(32), "bb".repeat(32), "cc".repeat(32)],
  producers: new Map([
    [1, [{ dtype: "float32", dims: [2, 2], data: Float32Array.from([0.5, -1, 3.25, 1e-8]) }]],
  ]),
};

it("encodes and decodes a bundle without losing a bit", () => {
  const published = { disputeId: 12n, party: "5Grw", evidence, segmentStartProof: ["dd".repeat(32)] };
  assert.deepEqual(decodeEvidence(encodeEvidence(published)), {
    ...published,
    evidence: { ...evidence, agreedCheckpoint: Buffer.from(evidence.agreedCheckpoint) },
  });
});

it("hands the referee only bundles that match their SHA-256", () => {
  publishEvidence(root, { disputeId: 4n, party: "alice", evidence, segmentStartProof: [] });
  publishEvidence(root, { disputeId: 4n, party: "bob", evidence, segmentStartProof: [] });
  assert.deepEqual(
    publishedEvidence(root, 4n)
      .map((b) => b.party)
      .sort(),
    ["alice", "bob"],
  );
  const dir = join(root, "dispute-4");
  assert.ok(readdirSync(dir).includes("bob.sha256"));
  writeFileSync(join(dir, "bob.json"), "{}");
  assert.deepEqual(
    publishedEvidence(root, 4n).map((b) => b.party),
    ["alice"],
  );
  assert.deepEqual(publishedEvidence(root, 5n), []);
});
