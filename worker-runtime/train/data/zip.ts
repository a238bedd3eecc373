// The part of the ZIP format (APPNOTE 6.3) that .npz files use: the central directory, stored or
// deflated entries, and the ZIP64 extra field NumPy writes for every member.
//
// A zip describes itself, and a small one can claim gigabytes: the whole directory is checked
// (entry count, declared sizes, each entry's bytes inside the file and its own) before anything
// is inflated, and inflating stops at the size the entry declared.
import { inflateRawSync } from "node:zlib";
import { TrainError } from "../errors.ts";
import { DATA_LIMITS, type DataLimits, limitExceeded } from "./limits.ts";

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_EOCD_LOCATOR_SIGNATURE = 0x07064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const ZIP64_EXTRA_ID = 0x0001;
const U32_MAX = 0xffffffff;

export interface ZipEntry {
  name: string;
  /** The declared, and checked, size after decompression. */
  size: number;
  /** Decompresses the entry; entries are read one at a time, so each can be freed before the next. */
  read(): Uint8Array;
}

interface Located {
  name: string;
  method: number;
  size: number;
  /** The local header's offset: an entry's bytes run from here to dataEnd. */
  start: number;
  dataStart: number;
  dataEnd: number;
}

const bad = (message: string) => new TrainError("INVALID_DATA", `zip: ${message}`);

function findEndOfCentralDirectory(view: DataView): number {
  // The record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
  for (let at = view.byteLength - 22; at >= Math.max(0, view.byteLength - 22 - 0xffff); at--) {
    if (view.getUint32(at, true) === EOCD_SIGNATURE) return at;
  }
  throw bad("no end-of-central-directory record (not a zip file)");
}

/** Reads ZIP64 values in the order APPNOTE gives them, only for the fields marked 0xFFFFFFFF. */
function zip64Values(view: DataView, extraStart: number, extraLength: number, wanted: boolean[]): bigint[] {
  let at = extraStart;
  while (at + 4 <= extraStart + extraLength) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (id === ZIP64_EXTRA_ID) {
      const values: bigint[] = [];
      let field = at + 4;
      for (const want of wanted) {
        if (!want) continue;
        values.push(view.getBigUint64(field, true));
        field += 8;
      }
      return values;
    }
    at += 4 + size;
  }
  throw bad("a size is 0xFFFFFFFF but the entry has no ZIP64 extra field");
}

/** Where each entry's bytes are, from the central directory, with every declared size in bounds. */
function locateEntries(bytes: Uint8Array, view: DataView, limits: DataLimits): Located[] {
  const eocd = findEndOfCentralDirectory(view);
  if (eocd >= 20 && view.getUint32(eocd - 20, true) === ZIP64_EOCD_LOCATOR_SIGNATURE) {
    throw new TrainError(
      "UNSUPPORTED_DATA_FORMAT",
      "zip: archives with a ZIP64 central directory are not supported",
    );
  }
  const count = view.getUint16(eocd + 10, true);
  if (count > limits.maxTensors) {
    throw limitExceeded("zip", `the archive has ${count} entries`, limits.maxTensors, "entries");
  }
  const directory = view.getUint32(eocd + 16, true);
  let at = directory;
  const located: Located[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 46 > view.byteLength || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw bad(`central directory entry ${i} is damaged`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localOffset = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    const wanted = [size === U32_MAX, compressedSize === U32_MAX, localOffset === U32_MAX];
    if (wanted.some(Boolean)) {
      const values = zip64Values(view, at + 46 + nameLength, extraLength, wanted).map(Number);
      if (wanted[0]) size = values.shift()!;
      if (wanted[1]) compressedSize = values.shift()!;
      if (wanted[2]) localOffset = values.shift()!;
    }
    if (flags & 0x1)
      throw new TrainError(
        "UNSUPPORTED_DATA_FORMAT",
        `zip entry ${name}: encrypted entries are not supported`,
      );
    if (method !== 0 && method !== 8) {
      throw new TrainError(
        "UNSUPPORTED_DATA_FORMAT",
        `zip entry ${name}: compression method ${method} is not supported; accepted: 0 (stored), 8 (deflate)`,
      );
    }
    if (size > limits.maxEntryBytes) {
      throw limitExceeded(
        `zip entry ${name}`,
        `it declares ${size} bytes inflated`,
        limits.maxEntryBytes,
        "bytes",
      );
    }
    if (localOffset + 30 > directory || view.getUint32(localOffset, true) !== LOCAL_SIGNATURE)
      throw bad(`entry ${name}: local header not found`);
    const dataStart =
      localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    const dataEnd = dataStart + compressedSize;
    if (dataEnd > directory) {
      throw bad(
        `entry ${name}: its ${compressedSize} bytes of data run into the central directory at ${directory}`,
      );
    }
    if (method === 0 && compressedSize !== size) {
      throw bad(
        `entry ${name} is stored uncompressed, yet declares ${compressedSize} bytes stored and ${size} inflated`,
      );
    }
    located.push({ name, method, size, start: localOffset, dataStart, dataEnd });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return located;
}

/**
 * Entries whose bytes overlap would each inflate the same data again: the reported zip bomb is
 * thirty directory entries sharing one deflate stream of 1 GiB.
 */
function checkDisjoint(located: readonly Located[]): void {
  const byStart = [...located].sort((a, b) => a.start - b.start);
  for (let i = 1; i < byStart.length; i++) {
    const previous = byStart[i - 1]!;
    const entry = byStart[i]!;
    if (entry.start < previous.dataEnd) {
      throw bad(
        `entry ${entry.name} (bytes ${entry.start}-${entry.dataEnd}) overlaps entry ${previous.name} ` +
          `(bytes ${previous.start}-${previous.dataEnd}); every entry must have data of its own`,
      );
    }
  }
}

function inflate(entry: Located, raw: Uint8Array): Uint8Array {
  if (entry.method === 0) return raw;
  let data: Uint8Array;
  try {
    // zlib stops as soon as the output passes this, so a lying entry costs at most its claim.
    data = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") {
      throw bad(`entry ${entry.name} inflates to more than the ${entry.size} bytes it declares`);
    }
    throw error;
  }
  if (data.byteLength !== entry.size)
    throw bad(`entry ${entry.name}: ${data.byteLength} bytes after decompression, expected ${entry.size}`);
  return data;
}

export function readZip(bytes: Uint8Array, limits: DataLimits = DATA_LIMITS): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const located = locateEntries(bytes, view, limits);
  checkDisjoint(located);
  const declared = located.reduce((sum, entry) => sum + entry.size, 0);
  if (declared > limits.maxInflatedBytes) {
    const found = `its ${located.length} entries declare ${declared} bytes inflated`;
    throw limitExceeded("zip", found, limits.maxInflatedBytes, "bytes");
  }
  return located.map((entry) => ({
    name: entry.name,
    size: entry.size,
    read: () => inflate(entry, bytes.subarray(entry.dataStart, entry.dataEnd)),
  }));
}
