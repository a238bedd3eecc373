// NumPy .npy (format versions 1-3): magic "\x93NUMPY", version, header length, then a Python
// dict literal {'descr', 'fortran_order', 'shape'} and the raw C-order data.
import type { DType, Tensor } from "../../onnx/dtypes.ts";
import { TrainError } from "../errors.ts";
import { ByteBudget, DATA_LIMITS, type DataLimits, limitExceeded } from "./limits.ts";
import { isDimension, tensorFromLittleEndian } from "./tensor-bytes.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const DESCRS: Record<string, DType> = {
  "<f4": "float32",
  "<f8": "float64",
  "<i8": "int64",
  "<i4": "int32",
  "|i1": "int8",
  "|u1": "uint8",
  "|b1": "bool",
};

export function isNpy(bytes: Uint8Array): boolean {
  return MAGIC.every((b, i) => bytes[i] === b);
}

export function readNpy(
  bytes: Uint8Array,
  where = "npy",
  limits: DataLimits = DATA_LIMITS,
  budget = new ByteBudget(limits.maxTensorBytes, "the decoded array"),
): Tensor {
  const bad = (message: string) => new TrainError("INVALID_DATA", `${where}: ${message}`);
  if (!isNpy(bytes) || bytes.byteLength < 10) throw bad("not a NumPy .npy file (no \\x93NUMPY magic)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  const [headerLength, headerStart] =
    major === 1 ? [view.getUint16(8, true), 10] : [view.getUint32(8, true), 12];
  if (major < 1 || major > 3) throw bad(`format version ${major} is not supported; accepted: 1, 2, 3`);
  if (headerLength > limits.maxHeaderBytes) {
    throw limitExceeded(where, `the header declares ${headerLength} bytes`, limits.maxHeaderBytes, "bytes");
  }
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(headerStart, headerStart + headerLength),
  );
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw bad(`unreadable header ${header.trim()}`);
  const dtype = Object.hasOwn(DESCRS, descr) ? DESCRS[descr] : undefined;
  if (!dtype) {
    throw new TrainError(
      "UNSUPPORTED_DATA_FORMAT",
      `${where}: dtype '${descr}' is not supported; accepted: ${Object.keys(DESCRS).join(", ")} (little-endian)`,
    );
  }
  if (fortran === "True") {
    throw new TrainError(
      "UNSUPPORTED_DATA_FORMAT",
      `${where}: Fortran-order arrays are not supported; save with np.ascontiguousarray`,
    );
  }
  const dims = shapeText
    .split(",")
    .map((d) => d.trim())
    .filter((d) => d !== "")
    .map(Number);
  if (!dims.every(isDimension)) throw bad(`invalid shape (${shapeText})`);
  return tensorFromLittleEndian(dtype, dims, bytes.subarray(headerStart + headerLength), where, budget);
}
