// Canonical checkpoint bytes. Two runs in the same determinism profile must produce the same
// bytes, so everything is fixed: field order, little-endian numbers, tensors sorted by the
// UTF-8 bytes of their names. The SHA-256 of these bytes is the checkpoint's Merkle leaf.
//
// Layout (all integers little-endian):
//   8 bytes   magic "VTCKPT01"
//   u64       step: optimizer steps completed
//   u64       epoch: 0-based epoch the next batch belongs to
//   u64       batch: batches of that epoch already consumed
//   4 x u32   xoshiro128** state before that epoch's shuffle
//   u32       P, then P tensor records: the trainable parameters
//   u32       S, then S tensor records: optimizer state and running statistics
// Tensor record:
//   u32 name length, name (UTF-8), u8 ONNX TensorProto data type, u8 rank, rank x u64 dims,
//   the elements in row-major order, little-endian.
import { createHash } from "node:crypto";
import { endianness } from "node:os";
import { allocate, type DType, dtypeFromOnnx, onnxDataType, type Tensor } from "./tensor.ts";

const MAGIC = new TextEncoder().encode("VTCKPT01");

/** Bytes that are not a well-formed checkpoint. */
export class CheckpointFormatError extends Error {
  readonly code = "INVALID_CHECKPOINT";
}

/** Where the data order stands: the next batch of a seeded shuffle. */
export interface DataPosition {
  epoch: number;
  /** Batches of `epoch` already consumed. */
  batch: number;
  /** Generator state before this epoch's shuffle. */
  rngAtEpochStart: Uint32Array;
}

export interface TrainingState {
  step: number;
  position: DataPosition;
  params: Map<string, Tensor>;
  /** Optimizer state and running statistics, by step-graph state name. */
  state: Map<string, Tensor>;
}

// Typed arrays use the host's byte order; the format is little-endian, as is every host we
// run on (x86-64, arm64). A big-endian host would need byte swapping, so it is refused.
function assertLittleEndianHost(): void {
  if (endianness() !== "LE") throw new CheckpointFormatError("checkpoints need a little-endian host");
}

const byName = (a: string, b: string) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/**
 * Where the canonical bytes go, in order: a buffer (encodeCheckpoint) or a hash
 * (checkpointSha256). The bytes are only valid during the call.
 */
type Sink = (bytes: Uint8Array) => void;

// Small fields and small tensors are gathered into one buffer before they reach the sink: a hash
// fed a few bytes at a time spends far longer per update than on the bytes themselves.
const WRITE_BUFFER_BYTES = 64 * 1024;

class Writer {
  private readonly buffer = new Uint8Array(WRITE_BUFFER_BYTES);
  private readonly view = new DataView(this.buffer.buffer);
  private length = 0;
  constructor(private readonly sink: Sink) {}

  private room(n: number): number {
    if (this.length + n > this.buffer.length) this.flush();
    const at = this.length;
    this.length += n;
    return at;
  }
  bytes(b: Uint8Array): void {
    if (b.length >= this.buffer.length) {
      this.flush();
      this.sink(b);
      return;
    }
    this.buffer.set(b, this.room(b.length));
  }
  u8(v: number): void {
    this.view.setUint8(this.room(1), v);
  }
  u32(v: number): void {
    this.view.setUint32(this.room(4), v, true);
  }
  u64(v: number): void {
    this.view.setBigUint64(this.room(8), BigInt(v), true);
  }
  flush(): void {
    if (this.length > 0) this.sink(this.buffer.subarray(0, this.length));
    this.length = 0;
  }
}

class Reader {
  private at = 0;
  private readonly view: DataView;
  constructor(private readonly buffer: Uint8Array) {
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
  private need(n: number): number {
    if (this.at + n > this.buffer.byteLength) throw new CheckpointFormatError("checkpoint bytes end early");
    const start = this.at;
    this.at += n;
    return start;
  }
  bytes(n: number): Uint8Array {
    const start = this.need(n);
    return this.buffer.subarray(start, start + n);
  }
  u8(): number {
    return this.view.getUint8(this.need(1));
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  u64(): number {
    return Number(this.view.getBigUint64(this.need(8), true));
  }
  get remaining(): number {
    return this.buffer.byteLength - this.at;
  }
  done(): boolean {
    return this.remaining === 0;
  }
}

function writeTensors(w: Writer, tensors: Map<string, Tensor>): void {
  // Each name encoded once, then sorted by its bytes.
  const named = [...tensors].map(([name, tensor]) => ({ encoded: Buffer.from(name, "utf8"), tensor }));
  named.sort((a, b) => Buffer.compare(a.encoded, b.encoded));
  w.u32(named.length);
  for (const { encoded, tensor } of named) {
    w.u32(encoded.length);
    w.bytes(encoded);
    w.u8(onnxDataType[tensor.dtype]);
    w.u8(tensor.dims.length);
    for (const d of tensor.dims) w.u64(d);
    // A view, not a copy: the writer copies or consumes the bytes before this returns.
    const data = tensor.data;
    w.bytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
}

// Every count and size below comes from untrusted bytes (a worker's upload), so each is checked
// against the bytes actually left before anything is allocated: a checkpoint can never make its
// reader allocate more than its own length.
const MAX_RANK = 32;
// u32 name length, u8 data type, u8 rank: the smallest possible tensor record.
const MIN_RECORD_BYTES = 6;
const utf8 = new TextDecoder("utf-8", { fatal: true });

function readTensor(r: Reader): [string, Tensor] {
  let name: string;
  try {
    name = utf8.decode(r.bytes(r.u32()));
  } catch (error) {
    if (error instanceof CheckpointFormatError) throw error;
    throw new CheckpointFormatError("a tensor name is not UTF-8");
  }
  const code = r.u8();
  const dtype: DType | undefined = dtypeFromOnnx(code);
  if (!dtype) throw new CheckpointFormatError(`tensor ${name}: unknown data type code ${code}`);
  const rank = r.u8();
  if (rank > MAX_RANK) throw new CheckpointFormatError(`tensor ${name}: rank ${rank} exceeds ${MAX_RANK}`);
  const dims = Array.from({ length: rank }, () => r.u64());
  const elementBytes = allocate(dtype, 0).BYTES_PER_ELEMENT;
  let byteLength = elementBytes;
  for (const d of dims) {
    byteLength *= d;
    if (byteLength > r.remaining) {
      throw new CheckpointFormatError(`tensor ${name}: dimensions [${dims}] need more bytes than remain`);
    }
  }
  const data = allocate(dtype, byteLength / elementBytes);
  new Uint8Array(data.buffer).set(r.bytes(byteLength));
  return [name, { dtype, dims, data }];
}

function readTensors(r: Reader): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  const count = r.u32();
  if (count * MIN_RECORD_BYTES > r.remaining) {
    throw new CheckpointFormatError(`${count} tensors cannot fit in the ${r.remaining} bytes left`);
  }
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
    const [name, tensor] = readTensor(r);
    // Canonical bytes list names strictly ascending: anything else is a second encoding of a state.
    if (previous !== undefined && byName(previous, name) >= 0) {
      throw new CheckpointFormatError(`tensor ${name} is out of order or repeated`);
    }
    previous = name;
    tensors.set(name, tensor);
  }
  return tensors;
}

function writeCheckpoint(state: TrainingState, sink: Sink): void {
  assertLittleEndianHost();
  const w = new Writer(sink);
  w.bytes(MAGIC);
  w.u64(state.step);
  w.u64(state.position.epoch);
  w.u64(state.position.batch);
  for (const word of state.position.rngAtEpochStart) w.u32(word);
  writeTensors(w, state.params);
  writeTensors(w, state.state);
  w.flush();
}

export function encodeCheckpoint(state: TrainingState): Uint8Array {
  const chunks: Uint8Array[] = [];
  writeCheckpoint(state, (bytes) => chunks.push(bytes.slice()));
  return Buffer.concat(chunks);
}

/**
 * The hex SHA-256 of encodeCheckpoint(state), hashed as the bytes are laid out: a verifier hashing
 * a state at every transcript leaf never builds the checkpoint in memory.
 */
export function checkpointSha256(state: TrainingState): string {
  const hash = createHash("sha256");
  writeCheckpoint(state, (bytes) => hash.update(bytes));
  return hash.digest("hex");
}

export function decodeCheckpoint(bytes: Uint8Array): TrainingState {
  assertLittleEndianHost();
  const r = new Reader(bytes);
  if (!Buffer.from(r.bytes(MAGIC.length)).equals(Buffer.from(MAGIC))) {
    throw new CheckpointFormatError("not a Veritrain checkpoint (magic VTCKPT01 missing)");
  }
  const step = r.u64();
  const epoch = r.u64();
  const batch = r.u64();
  const rngAtEpochStart = Uint32Array.from({ length: 4 }, () => r.u32());
  const params = readTensors(r);
  const state = readTensors(r);
  if (!r.done()) throw new CheckpointFormatError("trailing bytes after the last tensor");
  return { step, position: { epoch, batch, rngAtEpochStart }, params, state };
}
