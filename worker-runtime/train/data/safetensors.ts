// safetensors (huggingface/safetensors): u64 little-endian header size, a JSON header mapping
// names to {dtype, shape, data_offsets} relative to the end of the header, then the raw bytes.
//
// As the format's own reader does, the tensors must tile the data section exactly: laid end to
// end, none overlapping another and no byte left over. A header whose 400 tensors all claim the
// same 20 MB would otherwise decode to 8 GB.
import { type DType, type Tensor, tensorBytes } from "../../onnx/dtypes.ts";
import { TrainError } from "../errors.ts";
import { ByteBudget, DATA_LIMITS, type DataLimits, limitExceeded } from "./limits.ts";
import { isDimension, tensorFromLittleEndian } from "./tensor-bytes.ts";

const DTYPES: Record<string, DType> = {
  F32: "float32",
  F64: "float64",
  I64: "int64",
  I32: "int32",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
};

interface Declared {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

const bad = (message: string) => new TrainError("INVALID_DATA", `safetensors: ${message}`);

function header(bytes: Uint8Array, limits: DataLimits): { json: object; body: Uint8Array } {
  if (bytes.byteLength < 8) throw bad("the file is shorter than its 8-byte header size");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(limits.maxHeaderBytes)) {
    throw limitExceeded(
      "safetensors",
      `the header declares ${declared} bytes`,
      limits.maxHeaderBytes,
      "bytes",
    );
  }
  const headerSize = Number(declared);
  if (8 + headerSize > bytes.byteLength) throw bad(`header size ${headerSize} runs past the end of the file`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerSize)));
  } catch (error) {
    throw bad(`the header is not JSON (${(error as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json))
    throw bad("the header is not a JSON object");
  return { json, body: bytes.subarray(8 + headerSize) };
}

function declaredTensor(name: string, entry: unknown, bodyBytes: number): Declared {
  const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
  const type = typeof dtype === "string" && Object.hasOwn(DTYPES, dtype) ? DTYPES[dtype] : undefined;
  if (!type) {
    throw new TrainError(
      "UNSUPPORTED_DATA_FORMAT",
      `safetensors tensor ${name}: dtype ${String(dtype)} is not supported; accepted: ${Object.keys(DTYPES).join(", ")}`,
    );
  }
  const validShape = Array.isArray(shape) && shape.every(isDimension);
  const [begin, end] = Array.isArray(offsets) && offsets.length === 2 ? offsets : [];
  const validOffsets = isDimension(begin) && isDimension(end) && begin <= end && end <= bodyBytes;
  if (!validShape || !validOffsets) throw bad(`tensor ${name} has an invalid shape or data_offsets`);
  const needed = tensorBytes(type, shape);
  if (end - begin !== needed) {
    throw bad(
      `tensor ${name}: shape [${shape.join(", ")}] of ${type} needs ${needed} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype: type, shape, begin, end };
}

/** Sorted by offset, each tensor must start where the previous one ended, the last at the end. */
function checkTiling(tensors: readonly Declared[], bodyBytes: number): void {
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Declared | undefined;
  for (const tensor of sorted) {
    if (tensor.begin < covered) {
      throw bad(
        `tensors ${previous!.name} (bytes ${previous!.begin}-${previous!.end}) and ${tensor.name} ` +
          `(bytes ${tensor.begin}-${tensor.end}) overlap; each tensor needs bytes of its own, laid end to end`,
      );
    }
    if (tensor.begin > covered) {
      throw bad(
        `bytes ${covered}-${tensor.begin} of the data belong to no tensor; tensors must be laid end to end`,
      );
    }
    covered = tensor.end;
    previous = tensor;
  }
  if (covered !== bodyBytes) {
    throw bad(`bytes ${covered}-${bodyBytes} of the data, after the last tensor, belong to no tensor`);
  }
}

export function readSafetensors(bytes: Uint8Array, limits: DataLimits = DATA_LIMITS): Map<string, Tensor> {
  const { json, body } = header(bytes, limits);
  const entries = Object.entries(json).filter(([name]) => name !== "__metadata__");
  if (entries.length > limits.maxTensors) {
    throw limitExceeded(
      "safetensors",
      `the header lists ${entries.length} tensors`,
      limits.maxTensors,
      "tensors",
    );
  }
  const declared = entries.map(([name, entry]) => declaredTensor(name, entry, body.byteLength));
  checkTiling(declared, body.byteLength);
  const budget = new ByteBudget(limits.maxTensorBytes, "the decoded tensors");
  const tensors = new Map<string, Tensor>();
  for (const t of declared) {
    const where = `safetensors tensor ${t.name}`;
    tensors.set(
      t.name,
      tensorFromLittleEndian(t.dtype, t.shape, body.subarray(t.begin, t.end), where, budget),
    );
  }
  return tensors;
}
