import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CheckpointFormatError,
  decodeCheckpoint,
  encodeCheckpoint,
  type TrainingState,
} from "./checkpoint.ts";
import { sha256Hex } from "./signed-messages.ts";

function sample(order: string[]): TrainingState {
  const tensors = new Map(
    order.map((name) => {
      const i = name.charCodeAt(0) - 97;
      return [name, { dtype: "float32" as const, dims: [2], data: Float32Array.of(i, -i) }];
    }),
  );
  return {
    step: 42,
    position: { epoch: 3, batch: 7, rngAtEpochStart: Uint32Array.of(1, 2, 3, 0xffffffff) },
    params: new Map([...tensors].map(([n]) => [n, tensors.get(n)!])),
    state: new Map([["m.b", { dtype: "int64", dims: [1, 1], data: BigInt64Array.of(-5n) }]]),
  };
}

describe("checkpoint bytes", () => {
  it("round-trips every field", () => {
    const state = sample(["b", "a"]);
    const decoded = decodeCheckpoint(encodeCheckpoint(state));
    assert.equal(decoded.step, 42);
    assert.deepEqual(decoded.position, state.position);
    assert.deepEqual([...decoded.params.keys()], ["a", "b"]);
    assert.deepEqual(decoded.params.get("b"), state.params.get("b"));
    assert.deepEqual(decoded.state.get("m.b"), state.state.get("m.b"));
  });

  it("does not depend on insertion order, and follows the documented layout", () => {
    const one = encodeCheckpoint(sample(["b", "a"]));
    const two = encodeCheckpoint(sample(["a", "b"]));
    assert.equal(sha256Hex(one), sha256Hex(two));
    const view = Buffer.from(one);
    assert.equal(view.subarray(0, 8).toString("latin1"), "VTCKPT01");
    assert.equal(view.readBigUInt64LE(8), 42n);
    assert.equal(view.readBigUInt64LE(16), 3n);
    assert.equal(view.readBigUInt64LE(24), 7n);
    assert.equal(view.readUInt32LE(44), 0xffffffff);
    assert.equal(view.readUInt32LE(48), 2);
    // first tensor record: name "a"
    assert.equal(view.readUInt32LE(52), 1);
    assert.equal(view.subarray(56, 57).toString(), "a");
    assert.equal(view[57], 1); // ONNX FLOAT
    assert.equal(view[58], 1); // rank
    assert.equal(view.readBigUInt64LE(59), 2n);
    assert.equal(view.readFloatLE(67 + 4), -0);
  });

  it("changes its hash when one bit of a weight changes", () => {
    const state = sample(["a"]);
    const before = sha256Hex(encodeCheckpoint(state));
    (state.params.get("a")!.data as Float32Array)[0] = 1e-45;
    assert.notEqual(sha256Hex(encodeCheckpoint(state)), before);
  });

  it("refuses damaged bytes with a code", () => {
    const bytes = encodeCheckpoint(sample(["a"]));
    const isInvalid = (e: unknown) => e instanceof CheckpointFormatError && e.code === "INVALID_CHECKPOINT";
    assert.throws(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 1)), isInvalid);
    assert.throws(() => decodeCheckpoint(Buffer.concat([bytes, Uint8Array.of(0)])), isInvalid);
    assert.throws(() => decodeCheckpoint(Buffer.from("NOTACKPT")), isInvalid);
  });

  it("refuses hostile sizes before allocating for them", () => {
    const isInvalid = (e: unknown) => e instanceof CheckpointFormatError;
    // The header of sample(["a"]) up to its first tensor's rank byte, then forged fields.
    const header = Buffer.from(encodeCheckpoint(sample(["a"]))).subarray(0, 58);
    const huge = Buffer.alloc(8 * 4);
    for (let i = 0; i < 4; i++) huge.writeBigUInt64LE(1n << 20n, i * 8);
    assert.throws(
      () => decodeCheckpoint(Buffer.concat([header, Uint8Array.of(4), huge])),
      /more bytes than remain/,
    );
    assert.throws(() => decodeCheckpoint(Buffer.concat([header, Uint8Array.of(200)])), /rank 200/);
    const manyTensors = Buffer.from(header.subarray(0, 52));
    manyTensors.writeUInt32LE(0xffffffff, 48);
    assert.throws(() => decodeCheckpoint(manyTensors), /cannot fit/);
    assert.throws(
      () => decodeCheckpoint(Buffer.concat([header.subarray(0, 52), Buffer.alloc(4, 0xff)])),
      isInvalid,
    );
  });

  it("refuses a second encoding of the same state (repeated or unsorted names)", () => {
    const bytes = Buffer.from(encodeCheckpoint(sample(["a", "b"])));
    // Rename tensor "b" (the second record's name byte) to "a".
    const second = bytes.indexOf(Buffer.from("b"), 57);
    bytes[second] = 0x61;
    assert.throws(() => decodeCheckpoint(bytes), /out of order or repeated/);
  });
});
