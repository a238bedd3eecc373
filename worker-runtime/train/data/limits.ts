// What reading one dataset may cost. A file describes itself (entry counts, sizes, offsets,
// shapes) and a reader that believes it can be made to allocate without end, so every reader
// checks what a file declares against these bounds before acting on it. Inflated entries and
// tensor data live in ArrayBuffers, outside the JS heap that a worker's heap limit bounds: each
// reader charges those bytes to a budget of their own.
import { TrainError } from "../errors.ts";

export interface DataLimits {
  /** Tensors of a safetensors file, entries of an .npz. */
  maxTensors: number;
  /** Columns of a CSV header. */
  maxColumns: number;
  /** The JSON header of a safetensors file, the header of an .npy. */
  maxHeaderBytes: number;
  /** One zip entry, inflated. */
  maxEntryBytes: number;
  /** Every entry of one zip archive, inflated. */
  maxInflatedBytes: number;
  /** The decoded tensors of one dataset. */
  maxTensorBytes: number;
}

const GIB = 2 ** 30;

/**
 * A dataset upload may be 2 GB: its tensors may take as much decoded, and an .npz as much
 * inflated. Real datasets have a few tensors, or a few thousand CSV columns.
 */
export const DATA_LIMITS: Readonly<DataLimits> = {
  maxTensors: 1024,
  maxColumns: 16_384,
  maxHeaderBytes: 8 * 2 ** 20,
  maxEntryBytes: 2 * GIB,
  maxInflatedBytes: 2 * GIB,
  maxTensorBytes: 2 * GIB,
};

export function limitExceeded(where: string, found: string, limit: number, unit: string): TrainError {
  return new TrainError("LIMIT_EXCEEDED", `${where}: ${found}; at most ${limit} ${unit} accepted`);
}

/** Bytes a reader may still allocate; each allocation is charged before it is made. */
export class ByteBudget {
  private used = 0;

  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {}

  charge(bytes: number, where: string): void {
    this.used += bytes;
    if (this.used > this.limit) {
      throw limitExceeded(where, `${this.what} would reach ${this.used} bytes`, this.limit, "bytes");
    }
  }
}
