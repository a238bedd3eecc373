// Whether a delivered ONNX model carries exactly the weights of a checkpoint. The platform builds
// the delivered model from the last committed checkpoint (the user's model with the checkpoint's
// parameters, and the state tensors that are model initializers such as running statistics,
// written as initializers with raw_data); a receipt names that checkpoint as its last leaf. So a
// user holding the model and the final checkpoint can check the weights offline, in any SDK,
// without onnxruntime or an ONNX library: this reads only the few protobuf fields it needs.
//
// ONNX field numbers (onnx.proto3): ModelProto.graph = 7, GraphProto.initializer = 5,
// TensorProto.dims = 1, data_type = 2, name = 8, raw_data = 9.
import { decodeCheckpoint, type TrainingState } from "./checkpoint.ts";
import { type SafetensorsDType, writeSafetensors } from "./safetensors-writer.ts";
import { onnxDataType, type Tensor } from "./tensor.ts";

interface Initializer {
  dims: number[];
  dataType: number;
  rawData: Uint8Array | undefined;
}

class ProtoReader {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}

  varint(): number {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.at >= this.bytes.length) throw new Error("the model's protobuf ends inside a number");
      const byte = this.bytes[this.at++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return Number(BigInt.asIntN(64, value));
    }
    throw new Error("the model's protobuf has an overlong number");
  }

  take(length: number): Uint8Array {
    if (length < 0 || this.at + length > this.bytes.length)
      throw new Error("the model's protobuf ends early");
    const slice = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return slice;
  }

  /** Calls `field` for every field; its `value` is the varint, or the bytes of a length-delimited field. */
  fields(field: (number: number, value: number | Uint8Array) => void): void {
    while (this.at < this.bytes.length) {
      const key = this.varint();
      const wire = key & 7;
      const number = Math.floor(key / 8);
      if (wire === 0) field(number, this.varint());
      else if (wire === 2) field(number, this.take(this.varint()));
      else if (wire === 1) this.take(8);
      else if (wire === 5) this.take(4);
      else throw new Error(`the model's protobuf uses wire type ${wire}`);
    }
  }
}

function readInitializer(bytes: Uint8Array): [string, Initializer] {
  let name = "";
  const initializer: Initializer = { dims: [], dataType: 0, rawData: undefined };
  new ProtoReader(bytes).fields((number, value) => {
    if (number === 1 && typeof value === "number") initializer.dims.push(value);
    else if (number === 1 && value instanceof Uint8Array) {
      const packed = new ProtoReader(value);
      while (packed.at < value.length) initializer.dims.push(packed.varint());
    } else if (number === 2 && typeof value === "number") initializer.dataType = value;
    else if (number === 8 && value instanceof Uint8Array) name = new TextDecoder().decode(value);
    else if (number === 9 && value instanceof Uint8Array) initializer.rawData = value;
  });
  return [name, initializer];
}

/** The model's initializers by name, as their declared type, dims and raw bytes. */
function initializersOf(model: Uint8Array): Map<string, Initializer> {
  const initializers = new Map<string, Initializer>();
  new ProtoReader(model).fields((number, value) => {
    if (number !== 7 || !(value instanceof Uint8Array)) return;
    new ProtoReader(value).fields((graphField, graphValue) => {
      if (graphField === 5 && graphValue instanceof Uint8Array) {
        const [name, initializer] = readInitializer(graphValue);
        initializers.set(name, initializer);
      }
    });
  });
  return initializers;
}

function differs(name: string, tensor: Tensor, found: Initializer | undefined): string | undefined {
  if (!found) return `${name} is not an initializer of the model`;
  if (found.dataType !== onnxDataType[tensor.dtype] || found.dims.join() !== tensor.dims.join()) {
    return `${name} is data type ${found.dataType} [${found.dims}] in the model, ${tensor.dtype} [${tensor.dims}] in the checkpoint`;
  }
  const expected = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  if (!found.rawData || !Buffer.from(found.rawData).equals(expected)) {
    return `${name} holds other values in the model than in the checkpoint`;
  }
  return undefined;
}

/** The tensors of a checkpoint the delivered model carries as initializers. */
export function deliveredTensors(
  state: Pick<TrainingState, "params" | "state">,
  isInitializer: (name: string) => boolean,
): Map<string, Tensor> {
  const delivered = new Map(state.params);
  for (const [name, value] of state.state) if (isInitializer(name)) delivered.set(name, value);
  return delivered;
}

/**
 * True when `model` carries the weights of `checkpoint` (its canonical bytes), or why not: every
 * parameter, and every state tensor the model has as an initializer, byte for byte.
 */
export function modelCarriesCheckpoint(model: Uint8Array, checkpoint: Uint8Array): true | string {
  const initializers = initializersOf(model);
  const delivered = deliveredTensors(decodeCheckpoint(checkpoint), (name) => initializers.has(name));
  for (const [name, tensor] of delivered) {
    const problem = differs(name, tensor, initializers.get(name));
    if (problem) return problem;
  }
  return true;
}

/** safetensors' names for the float types weights have; integer initializers are shapes and indices. */
const SAFETENSORS_DTYPES: ReadonlyMap<number, SafetensorsDType> = new Map([
  [onnxDataType.float32, "F32"],
  [onnxDataType.float64, "F64"],
]);

/**
 * The model's initializers as a safetensors file keyed by their ONNX names, which for a model from
 * torch.onnx.export are the PyTorch module's state_dict keys ("net.0.weight"), so
 * `module.load_state_dict(safetensors.torch.load_file(path))` takes them back: the float
 * initializers, i.e. the weights and running statistics. Integer initializers (shapes, indices) and
 * ones stored without raw_data (small constants in typed fields) are not weights and are left out.
 */
export function modelWeightsAsSafetensors(model: Uint8Array): Uint8Array {
  const tensors = [...initializersOf(model)].flatMap(([name, initializer]) => {
    const dtype = SAFETENSORS_DTYPES.get(initializer.dataType);
    if (!dtype || !initializer.rawData) return [];
    return [{ name, dtype, shape: initializer.dims, data: initializer.rawData }];
  });
  return writeSafetensors(tensors);
}
