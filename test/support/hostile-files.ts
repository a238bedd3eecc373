// Hostile uploads, built in memory in milliseconds: each is small on the wire and costs gigabytes
// or minutes to a reader that trusts what the file says about itself.
import { constants, deflateRawSync } from "node:zlib";
import { onnx } from "../../worker-runtime/onnx/proto.ts";

const MIB = 1 << 20;

/**
 * A deflate stream that inflates to `mebibytes` MiB of zeros, in about 1 KB per MiB. A full flush
 * ends each chunk byte-aligned with a fresh state, so copies of one chunk chain into one stream.
 */
export function deflatedZeros(mebibytes: number): Buffer {
  const chunk = deflateRawSync(Buffer.alloc(MIB), { finishFlush: constants.Z_FULL_FLUSH });
  // 0x03 0x00: a final, empty block with fixed Huffman codes.
  return Buffer.concat([...new Array<Buffer>(mebibytes).fill(chunk), Buffer.from([0x03, 0x00])]);
}

export interface ZipMember {
  name: string;
  /** The member's stored bytes: raw deflate for method 8. */
  data: Uint8Array;
  /** What the headers declare the member inflates to. */
  size: number;
  method?: 0 | 8;
}

/**
 * A zip archive whose central directory lists `entries` members, each pointing at the local
 * header of `members[entries[i]]`: several entries may share one member's data.
 */
export function zipArchive(members: ZipMember[], entries: Array<{ name: string; member: number }>): Buffer {
  const locals: Buffer[] = [];
  const offsets: number[] = [];
  let at = 0;
  for (const member of members) {
    const name = Buffer.from(member.name);
    const header = record(30, [
      [0, 4, 0x04034b50],
      [4, 2, 20],
      [8, 2, member.method ?? 8],
      [18, 4, member.data.byteLength],
      [22, 4, member.size],
      [26, 2, name.byteLength],
    ]);
    offsets.push(at);
    locals.push(header, name, Buffer.from(member.data));
    at += 30 + name.byteLength + member.data.byteLength;
  }
  const central: Buffer[] = [];
  let centralSize = 0;
  for (const entry of entries) {
    const member = members[entry.member]!;
    const name = Buffer.from(entry.name);
    const header = record(46, [
      [0, 4, 0x02014b50],
      [4, 2, 20],
      [6, 2, 20],
      [10, 2, member.method ?? 8],
      [20, 4, member.data.byteLength],
      [24, 4, member.size],
      [28, 2, name.byteLength],
      [42, 4, offsets[entry.member]!],
    ]);
    central.push(header, name);
    centralSize += 46 + name.byteLength;
  }
  const end = record(22, [
    [0, 4, 0x06054b50],
    [8, 2, entries.length],
    [10, 2, entries.length],
    [12, 4, centralSize],
    [16, 4, at],
  ]);
  return Buffer.concat([...locals, ...central, end]);
}

/** A zip record of `size` bytes: each field is [offset, width, value], little-endian, the rest 0. */
function record(size: number, fields: Array<[offset: number, width: 2 | 4, value: number]>): Buffer {
  const bytes = Buffer.alloc(size);
  for (const [offset, width, value] of fields) {
    if (width === 2) bytes.writeUInt16LE(value, offset);
    else bytes.writeUInt32LE(value, offset);
  }
  return bytes;
}

/** The reported attack: `count` npz entries sharing one deflate stream of `mebibytes` MiB of zeros. */
export function sharedStreamNpz(count: number, mebibytes: number): Buffer {
  const member = { name: "x0.npy", data: deflatedZeros(mebibytes), size: mebibytes * MIB };
  const entries = Array.from({ length: count }, (_, i) => ({ name: `x${i}.npy`, member: 0 }));
  return zipArchive([member], entries);
}

/** A safetensors file: the JSON header as given, padded to 8 bytes, then `bodyBytes` zero bytes. */
export function safetensorsFile(header: Record<string, unknown>, bodyBytes: number): Buffer {
  const json = Buffer.from(JSON.stringify(header).padEnd(Math.ceil(JSON.stringify(header).length / 8) * 8));
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.byteLength));
  return Buffer.concat([size, json, Buffer.alloc(bodyBytes)]);
}

/** The reported attack: `count` uint8 tensors, each claiming the whole body of `bodyBytes`. */
export function overlappingSafetensors(count: number, bodyBytes: number): Buffer {
  const header: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    header[`t${i}`] = { dtype: "U8", shape: [bodyBytes], data_offsets: [0, bodyBytes] };
  }
  return safetensorsFile(header, bodyBytes);
}

/** A CSV whose header names `columns` distinct columns, with one row of zeros. */
export function wideCsv(columns: number): Buffer {
  const names = Array.from({ length: columns }, (_, i) => `c${i}`);
  return Buffer.from(`${names.join(",")}\n${new Array(columns).fill("0").join(",")}\n`);
}

/**
 * A model y = opN(...op1(x)) over a [1] float tensor, its nodes named r0, r1, ... and listed in
 * file order, or last first.
 */
export function chainModel(
  opTypes: readonly string[],
  order: "forward" | "reversed" = "forward",
): Uint8Array {
  const floatType = {
    tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: 1 }] } },
  };
  const node = opTypes.map((opType, i) => ({
    opType,
    name: `r${i}`,
    input: [`t${i}`],
    output: [`t${i + 1}`],
  }));
  if (order === "reversed") node.reverse();
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "chain",
      node,
      input: [{ name: "t0", type: floatType }],
      output: [{ name: `t${opTypes.length}`, type: floatType }],
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

/**
 * A chain of `depth` Relu nodes listed last node first: a topological sort that rescans the
 * unsorted nodes for each one it places is quadratic here.
 */
export function reversedChainModel(depth: number): Uint8Array {
  return chainModel(new Array<string>(depth).fill("Relu"), "reversed");
}
