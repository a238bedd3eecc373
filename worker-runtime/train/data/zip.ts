// The part of the ZIP format (APPNOTE 6.3) that .npz files use: the central directory, stored or
// deflated entries, and the ZIP64 extra field NumPy writes for every member.
import { inflateRawSync } from "node:zlib";
import { TrainError } from "../errors.ts";

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_EOCD_LOCATOR_SIGNATURE = 0x07064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const ZIP64_EXTRA_ID = 0x0001;
const U32_MAX = 0xffffffff;

export interface ZipEntry {
  name: string;
  data: Uint8Array;
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

export function readZip(bytes: Uint8Array): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEndOfCentralDirectory(view);
  if (eocd >= 20 && view.getUint32(eocd - 20, true) === ZIP64_EOCD_LOCATOR_SIGNATURE) {
    throw new TrainError(
      "UNSUPPORTED_DATA_FORMAT",
      "zip: archives with a ZIP64 central directory are not supported",
    );
  }
  const count = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  const entries: ZipEntry[] = [];
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
    if (view.getUint32(localOffset, true) !== LOCAL_SIGNATURE)
      throw bad(`entry ${name}: local header not found`);
    const dataStart =
      localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    const raw = bytes.subarray(dataStart, dataStart + compressedSize);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) data = new Uint8Array(inflateRawSync(raw));
    else {
      throw new TrainError(
        "UNSUPPORTED_DATA_FORMAT",
        `zip entry ${name}: compression method ${method} is not supported; accepted: 0 (stored), 8 (deflate)`,
      );
    }
    if (data.byteLength !== size)
      throw bad(`entry ${name}: ${data.byteLength} bytes after decompression, expected ${size}`);
    entries.push({ name, data });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
