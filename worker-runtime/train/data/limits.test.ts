// The readers against files that lie about themselves: each is refused from what it declares,
// before the allocation or the inflation it asks for, with the limit in the message.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deflateRawSync } from "node:zlib";
import {
  deflatedZeros,
  overlappingSafetensors,
  safetensorsFile,
  sharedStreamNpz,
  wideCsv,
  zipArchive,
} from "../../../test/support/hostile-files.ts";
import { TrainError } from "../errors.ts";
import { readDataset } from "./dataset.ts";
import { DATA_LIMITS, type DataLimits } from "./limits.ts";

const MIB = 1 << 20;

function rejects(fn: () => unknown, code: TrainError["code"], pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TrainError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    return true;
  });
}

/** An .npy of `count` float32 zeros. */
function npy(count: number): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${count},), }`;
  const header = `${dict.padEnd(117)}\n`;
  return Buffer.concat([
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]),
    Buffer.from(header),
    Buffer.alloc(count * 4),
  ]);
}

const npyMember = (name: string, count: number) => {
  const raw = npy(count);
  return { name, data: deflateRawSync(raw), size: raw.byteLength };
};

const read = (bytes: Uint8Array, name: string, limits: Partial<DataLimits> = {}) =>
  readDataset(bytes, name, { ...DATA_LIMITS, ...limits });

/** Minutes or gigabytes when read as the file says; far less on a busy machine when refused. */
const QUICK_MS = 5_000;

function refusedQuickly(bytes: Uint8Array, name: string, code: TrainError["code"], pattern: RegExp) {
  const started = performance.now();
  rejects(() => read(bytes, name), code, pattern);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < QUICK_MS, `${name} took ${elapsed} ms to refuse`);
}

describe("zip and npz", () => {
  it("refuses entries that share one deflate stream before inflating any", () => {
    refusedQuickly(
      sharedStreamNpz(30, 1024),
      "bomb.npz",
      "INVALID_DATA",
      /x1\.npy .* overlaps entry x0\.npy/,
    );
  });

  it("refuses an entry that inflates past the size it declares, stopping there", () => {
    const lying = zipArchive(
      [{ name: "a.npy", data: deflatedZeros(64), size: 1000 }],
      [{ name: "a.npy", member: 0 }],
    );
    const before = process.memoryUsage().arrayBuffers;
    rejects(
      () => read(lying, "d.npz"),
      "INVALID_DATA",
      /a\.npy inflates to more than the 1000 bytes it declares/,
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * MIB);
  });

  it("refuses declared sizes past the per-entry and total caps, and too many entries", () => {
    const members = [npyMember("a.npy", 1000), npyMember("b.npy", 1000)];
    const both = zipArchive(members, [
      { name: "a.npy", member: 0 },
      { name: "b.npy", member: 1 },
    ]);
    assert.deepEqual(read(both, "d.npz").names, ["a", "b"]);
    rejects(
      () => read(both, "d.npz", { maxEntryBytes: 4000 }),
      "LIMIT_EXCEEDED",
      /a\.npy: it declares 4128 bytes inflated; at most 4000 bytes/,
    );
    rejects(
      () => read(both, "d.npz", { maxInflatedBytes: 8000 }),
      "LIMIT_EXCEEDED",
      /2 entries declare 8256 bytes inflated; at most 8000/,
    );
    rejects(() => read(both, "d.npz", { maxTensors: 1 }), "LIMIT_EXCEEDED", /2 entries; at most 1 entries/);
    rejects(
      () => read(both, "d.npz", { maxTensorBytes: 6000 }),
      "LIMIT_EXCEEDED",
      /npz array b: the decoded arrays would reach 8000 bytes/,
    );
  });
});

describe("safetensors", () => {
  const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({
    dtype: "F32",
    shape,
    data_offsets: [begin, end],
  });

  it("refuses tensors that overlap, leave bytes over, or disagree with their shape", () => {
    refusedQuickly(
      overlappingSafetensors(400, 4 * MIB),
      "o.safetensors",
      "INVALID_DATA",
      /t0 .* and t1 .* overlap/,
    );
    assert.deepEqual(read(safetensorsFile({ b: f32(8, 16), a: f32(0, 8) }, 16), "s.safetensors").names, [
      "b",
      "a",
    ]);
    rejects(
      () => read(safetensorsFile({ a: f32(0, 8), b: f32(12, 16) }, 16), "s.safetensors"),
      "INVALID_DATA",
      /bytes 8-12 of the data belong to no tensor/,
    );
    rejects(
      () => read(safetensorsFile({ a: f32(0, 8) }, 16), "s.safetensors"),
      "INVALID_DATA",
      /bytes 8-16 .* after the last tensor/,
    );
    rejects(
      () => read(safetensorsFile({ a: f32(0, 8, [4]) }, 8), "s.safetensors"),
      "INVALID_DATA",
      /shape \[4\] of float32 needs 16 bytes, but data_offsets \[0, 8\] hold 8/,
    );
    rejects(
      () => read(safetensorsFile({ a: f32(0, 8, [2 ** 60, 0]) }, 8), "s.safetensors"),
      "INVALID_DATA",
      /invalid shape/,
    );
  });

  it("refuses a header or a tensor count past the limits", () => {
    const file = safetensorsFile({ a: f32(0, 8), b: f32(8, 16) }, 16);
    rejects(
      () => read(file, "s.safetensors", { maxTensors: 1 }),
      "LIMIT_EXCEEDED",
      /lists 2 tensors; at most 1 tensors/,
    );
    rejects(
      () => read(file, "s.safetensors", { maxHeaderBytes: 16 }),
      "LIMIT_EXCEEDED",
      /the header declares \d+ bytes; at most 16 bytes/,
    );
  });
});

describe("csv", () => {
  it("checks a header of 300,000 columns in linear time and refuses it by count", () => {
    refusedQuickly(
      wideCsv(300_000),
      "w.csv",
      "LIMIT_EXCEEDED",
      /the header has 300000 columns; at most 16384 columns/,
    );
  });

  it("finds a duplicate column in the widest header accepted", () => {
    const columns = DATA_LIMITS.maxColumns;
    const header = Array.from({ length: columns }, (_, i) => `c${i === columns - 1 ? 0 : i}`).join(",");
    rejects(() => read(Buffer.from(`${header}\n`), "d.csv"), "INVALID_DATA", /column "c0" appears twice/);
  });

  it("refuses a table whose values would pass the tensor budget", () => {
    rejects(
      () => read(Buffer.from("a,b\n1,2\n3,4\n"), "d.csv", { maxTensorBytes: 24 }),
      "LIMIT_EXCEEDED",
      /2 rows of 2 columns take 32 bytes/,
    );
  });
});
