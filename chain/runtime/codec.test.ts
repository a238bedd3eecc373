// The runtime codec encodes the pallets' own types itself and remembers what it wrote as already
// decoded: its bytes must be @polkadot/types' bytes, and a read exactly what decoding them gives.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { u8aToHex } from "@polkadot/util";
import { cryptoWaitReady, encodeAddress } from "@polkadot/util-crypto";
import { type RuntimeCodec, toNative } from "./codec.ts";
import { constructRuntime, RUNTIME_PALLETS } from "./construct-runtime.ts";
import type { PortableType } from "./metadata/portable-types.ts";
import type { NativeValue, ScaleType } from "./pallet.ts";
import type { TaskInfo } from "./pallets/compute-types.ts";

const ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const hash = (byte: string) => `0x${byte.repeat(32)}`;

const task: TaskInfo = {
  submitter: ALICE,
  spec: {
    modelHash: hash("01"),
    datasetHash: hash("02"),
    specHash: hash("03"),
    profile: null,
    maxSteps: 1_000n,
    checkpointInterval: 100n,
    graphNodes: 64,
    verificationLevel: 2,
  },
  price: 12_345_678_901_234_567_890n,
  status: "Auditing",
  worker: BOB,
  attempt: 1,
  excluded: [ALICE],
  profile: hash("09"),
  commitDeadline: 40,
  commitment: { root: hash("04"), checkpoints: 11, steps: 1_000n, result: hash("05"), committedAt: 31 },
  seed: hash("06"),
  transcriptStride: 16,
  verdictDeadline: 42,
  challengeEnd: 52,
  revealEnd: 62,
  audits: [
    {
      segment: 3,
      verifier: ALICE,
      commitment: hash("07"),
      verdict: { agrees: false, transcript: hash("08"), at: 33 },
      challenger: { who: BOB, firstWrongStep: 301n, bond: 50n },
      forced: null,
      outcome: "Pending",
      settled: false,
    },
  ],
  disputes: [7n],
  payout: null,
  delivery: null,
};

let codec: RuntimeCodec;

before(async () => {
  await cryptoWaitReady();
  codec = constructRuntime().codec;
});

/** Writes a Compute value and reads it back: the read must equal a fresh decode of the bytes. */
function writeAndRead(type: ScaleType, value: NativeValue): NativeValue {
  const bytes = codec.encode("Compute", type, value);
  const read = codec.decode("Compute", type, bytes);
  assert.deepEqual(read, codec.decode("Compute", type, bytes.slice()));
  return read.value;
}

test("a written value reads back as a fresh decode of its bytes, and as written", () => {
  assert.deepEqual(writeAndRead("TaskInfo", task), task);
});

test("a value written in a looser form reads back in the field's native form", () => {
  const node = {
    roles: { worker: true, verifier: false, whistleblower: false },
    profile: hash("09"),
    bonded: 1_000n,
    unbonding: 0n,
    unlockAt: 0,
    commitment: hash("0a"),
    commitmentInUse: false,
    workerDuties: 1,
    verifierDuties: 0,
    whistleblowerDuties: 0,
  };
  // A u32 handed in as a bigint, a hash in capitals and a field the struct does not declare.
  const loose = { ...node, workerDuties: 1n, profile: hash("0A"), note: "not a field" };
  assert.deepEqual(writeAndRead("NodeInfo", loose), { ...node, profile: hash("0a") });
});

test("changing a value read from the codec does not change the next read", () => {
  const bytes = codec.encode("Compute", "TaskInfo", task);
  const first = codec.decode("Compute", "TaskInfo", bytes).value as TaskInfo;
  first.audits[0]!.settled = true;
  first.excluded.push(BOB);
  assert.deepEqual(codec.decode("Compute", "TaskInfo", bytes).value, task);
});

/** mulberry32: a fixed seed, so a failure names a value that comes back on the next run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BITS: Readonly<Record<string, number>> = { U8: 8, U16: 16, U32: 32, U64: 64, U128: 128 };

/** Random values of a portable type in the NativeValue shape, with integers of every magnitude. */
function generator(types: readonly PortableType[], random: () => number) {
  const below = (n: number) => Math.floor(random() * n);
  const hex = (length: number) =>
    `0x${Array.from({ length }, () => below(256).toString(16).padStart(2, "0")).join("")}`;
  const integer = (bits: number): NativeValue => {
    let value = 0n;
    for (let bit = below(bits + 1); bit > 0; bit--) value = (value << 1n) | BigInt(below(2));
    // Either form is accepted for any width; what comes back is the width's own.
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && below(2) === 0 ? Number(value) : value;
  };
  const primitiveOf = (id: number) => {
    const def = types[id]?.type.def;
    return def !== undefined && "Primitive" in def ? def.Primitive : undefined;
  };
  const value = (id: number, depth: number): NativeValue => {
    const { path, def } = types[id]!.type;
    if ("Primitive" in def) {
      if (def.Primitive === "Bool") return below(2) === 0;
      if (def.Primitive === "Str") return `text ${below(1000)}`;
      const bits = BITS[def.Primitive];
      assert.ok(bits !== undefined, `a generator for ${def.Primitive}`);
      return integer(bits);
    }
    if ("Compact" in def) return integer(BITS[primitiveOf(def.Compact.type) ?? ""] ?? 128);
    const count = depth > 3 ? 0 : below(4);
    if ("Sequence" in def) {
      if (primitiveOf(def.Sequence.type) === "U8") return hex(below(9));
      return Array.from({ length: count }, () => value(def.Sequence.type, depth + 1));
    }
    if ("Array" in def) {
      if (primitiveOf(def.Array.type) === "U8") return hex(def.Array.len);
      return Array.from({ length: def.Array.len }, () => value(def.Array.type, depth + 1));
    }
    if ("Tuple" in def) return def.Tuple.length === 0 ? null : def.Tuple.map((t) => value(t, depth + 1));
    if ("Composite" in def) {
      if (path.at(-1) === "AccountId32") return encodeAddress(hex(32), 42);
      const fields = def.Composite.fields;
      if (fields.length === 1 && fields[0]!.name === null) return value(fields[0]!.type, depth + 1);
      return Object.fromEntries(
        fields.map((field) => [
          field.name!.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()),
          value(field.type, depth + 1),
        ]),
      );
    }
    if (path[0] === "Option") {
      const some = def.Variant.variants[1]!.fields[0]!.type;
      return below(3) === 0 ? null : value(some, depth + 1);
    }
    const variant = def.Variant.variants[below(def.Variant.variants.length)]!;
    if (variant.fields.length === 0) return variant.name;
    if (variant.fields.length === 1 && variant.fields[0]!.name === null) {
      return { [variant.name]: value(variant.fields[0]!.type, depth + 1) };
    }
    return {
      [variant.name]: Object.fromEntries(
        variant.fields.map((field) => [field.name!, value(field.type, depth + 1)]),
      ),
    };
  };
  return value;
}

/** Whether a type reaches a runtime-wide call or event enum (encoded calls are hex, not generated). */
function reachesRuntimeEnum(types: readonly PortableType[], id: number, seen = new Set<number>()): boolean {
  if (seen.has(id)) return false;
  seen.add(id);
  const { path, def } = types[id]!.type;
  if (path.at(-1) === "RuntimeCall" || path.at(-1) === "RuntimeEvent") return true;
  const inner =
    "Composite" in def
      ? def.Composite.fields.map((f) => f.type)
      : "Variant" in def
        ? def.Variant.variants.flatMap((v) => v.fields.map((f) => f.type))
        : "Sequence" in def
          ? [def.Sequence.type]
          : "Array" in def
            ? [def.Array.type]
            : "Compact" in def
              ? [def.Compact.type]
              : "Tuple" in def
                ? def.Tuple
                : [];
  return inner.some((t) => reachesRuntimeEnum(types, t, seen));
}

test("every stored, keyed and emitted type encodes as @polkadot/types encodes it", () => {
  const types = codec.types.types;
  const random = seeded(4);
  const value = generator(types, random);
  let checked = 0;
  for (const pallet of RUNTIME_PALLETS) {
    const declared = new Set<ScaleType>([
      ...Object.values(pallet.storage ?? {}).flatMap((item) => [
        item.valueType,
        ...("keyType" in item ? [item.keyType as ScaleType] : []),
        ...("keyTypes" in item ? (item.keyTypes as readonly ScaleType[]) : []),
      ]),
      ...Object.values(pallet.events ?? {}).flatMap((fields) => Object.values(fields)),
    ]);
    for (const type of declared) {
      const id = codec.typeId(pallet.name, type);
      if (reachesRuntimeEnum(types, id)) continue;
      const name = codec.typeName(pallet.name, type);
      for (let i = 0; i < 40; i++) {
        const sample = value(id, 0);
        const what = `${pallet.name} ${type} ${JSON.stringify(sample, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`;
        const bytes = codec.encode(pallet.name, type, sample);
        assert.equal(
          u8aToHex(bytes),
          u8aToHex(codec.registry.createTypeUnsafe(name, [sample]).toU8a()),
          what,
        );
        const fresh = toNative(codec.registry.createTypeUnsafe(name, [bytes.slice()]));
        assert.deepEqual(codec.decode(pallet.name, type, bytes).value, fresh, what);
        checked += 1;
      }
    }
  }
  assert.ok(checked > 1_000, `${checked} values checked`);
});
