// Decoded chain values narrowed into the bridge's types: hashes as @polkadot/types renders them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BridgeError } from "./errors.ts";
import { hashOf } from "./values.ts";

describe("hashOf", () => {
  it("takes hex, and a hash whose bytes are all printable ASCII, which toPrimitive renders as text", () => {
    assert.equal(hashOf(`0x${"AB".repeat(32)}`, "h"), `0x${"ab".repeat(32)}`);
    assert.equal(hashOf('"'.repeat(32), "h"), `0x${"22".repeat(32)}`);
  });

  it("refuses anything else", () => {
    for (const value of ["0x12", "x".repeat(31), 42, null, `0x${"zz".repeat(32)}`]) {
      assert.throws(() => hashOf(value, "h"), BridgeError, String(value));
    }
  });
});
