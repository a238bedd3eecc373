import { elementCount, type Tensor } from "../onnx/dtypes.ts";
import { AutodiffError } from "./errors.ts";
import type { GraphBuilder } from "./graph-builder.ts";

/** Where one parameter lives inside the packed parameter vector. */
export interface PackedSlot {
  name: string;
  offset: number;
  dims: number[];
}

/**
 * All trainable parameters as one float32 vector: one graph input and one output instead of one
 * per parameter (each tensor crossing onnxruntime-node costs tens of microseconds), and one fused
 * optimizer update over the whole vector, as torch's fused optimizers do.
 */
export interface ParameterPacking {
  /** Graph input (and trained-tensor name) holding the vector. */
  name: string;
  size: number;
  slots: PackedSlot[];
}

export const PACKED_PARAMETERS = "parameters";

export function planPacking(
  params: readonly string[],
  initializers: ReadonlyMap<string, Tensor>,
): ParameterPacking {
  let offset = 0;
  const slots = params.map((name) => {
    const t = initializers.get(name)!;
    if (t.dtype !== "float32") {
      throw new AutodiffError(
        "INVALID_OPTIONS",
        `packed parameters must all be float32; ${name} is ${t.dtype}`,
      );
    }
    const slot = { name, offset, dims: t.dims };
    offset += elementCount(t.dims);
    return slot;
  });
  return { name: PACKED_PARAMETERS, size: offset, slots };
}

export function packTensors(packing: ParameterPacking, values: ReadonlyMap<string, Tensor>): Tensor {
  const data = new Float32Array(packing.size);
  for (const slot of packing.slots) {
    const value = values.get(slot.name);
    if (!value) throw new AutodiffError("UNKNOWN_PARAMETER", `no value for packed parameter ${slot.name}`);
    data.set(value.data as Float32Array, slot.offset);
  }
  return { dtype: "float32", dims: [packing.size], data };
}

/** Views into the packed vector (no copy): keep the vector alive while they are used. */
export function unpackTensors(packing: ParameterPacking, packed: Tensor): Map<string, Tensor> {
  const data = packed.data as Float32Array;
  return new Map(
    packing.slots.map((slot) => [
      slot.name,
      {
        dtype: "float32",
        dims: slot.dims,
        data: data.subarray(slot.offset, slot.offset + elementCount(slot.dims)),
      },
    ]),
  );
}

/** Emits, at the front of the graph, one Split giving each parameter its usual name and shape. */
export function emitUnpack(g: GraphBuilder, packing: ParameterPacking): void {
  g.prepend(() =>
    g.scoped("unpack", () => {
      const flat = (slot: PackedSlot) => (slot.dims.length === 1 ? slot.name : `unpack/${slot.name}/flat`);
      const sizes = packing.slots.map((slot) => elementCount(slot.dims));
      if (packing.slots.length === 1) {
        g.addNode({
          name: "unpack/split",
          opType: "Identity",
          input: [packing.name],
          output: [flat(packing.slots[0]!)],
        });
      } else {
        g.addNode({
          name: "unpack/split",
          opType: "Split",
          input: [packing.name, g.ints(sizes)],
          output: packing.slots.map(flat),
          attributes: { axis: 0 },
        });
      }
      for (const slot of packing.slots) {
        if (slot.dims.length === 1) continue;
        g.addNode({
          name: `unpack/${slot.name}`,
          opType: "Reshape",
          input: [flat(slot), g.ints(slot.dims)],
          output: [slot.name],
        });
      }
    }),
  );
}

/** The gradient vector in packing order; a parameter no gradient reaches contributes zeros. */
export function emitPackedGradient(
  g: GraphBuilder,
  packing: ParameterPacking,
  grads: ReadonlyMap<string, string>,
): string {
  return g.scoped("pack_gradients", () => {
    const flatShape = g.ints([-1]);
    const parts = packing.slots.map((slot) => {
      const grad = grads.get(slot.name);
      if (grad) return slot.dims.length === 1 ? grad : g.reshape(grad, flatShape);
      return g.constant({
        dtype: "float32",
        dims: [elementCount(slot.dims)],
        data: new Float32Array(elementCount(slot.dims)),
      });
    });
    return parts.length === 1 ? parts[0]! : g.op("Concat", parts, { axis: 0 });
  });
}
