// A node's determinism profile includes its intra-op thread count, so nodes of different counts
// register different profiles and never replay or resume each other's work.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { currentProfile } from "../train/profile.ts";
import { NodeError } from "./errors.ts";
import { determinismProfileHash, requireSameProfile } from "./profile-check.ts";

describe("a node's determinism profile", () => {
  const work = { task_id: "t1", model_sha256: "", dataset_sha256: "", dataset_file_name: "d.npz", spec: {} };

  it("records the intra-op thread count, so different counts hash differently", () => {
    assert.equal(currentProfile(2).intra_op_threads, 2);
    assert.equal(determinismProfileHash(), determinismProfileHash(1));
    assert.notEqual(determinismProfileHash(1), determinismProfileHash(2));
  });

  it("refuses work of a node with another thread count", () => {
    const oneThread = { ...work, profile_hash: determinismProfileHash(1) };
    requireSameProfile(oneThread, determinismProfileHash(1));
    assert.throws(
      () => requireSameProfile(oneThread, determinismProfileHash(2)),
      (error: unknown) => error instanceof NodeError && error.code === "PROFILE_MISMATCH",
    );
  });
});
