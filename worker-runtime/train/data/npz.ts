// NumPy .npz: a zip of .npy files, one per array, named after the array (np.savez / savez_compressed).
import type { Tensor } from "../../onnx/dtypes.ts";
import { ByteBudget, DATA_LIMITS, type DataLimits } from "./limits.ts";
import { readNpy } from "./npy.ts";
import { readZip } from "./zip.ts";

export function readNpz(bytes: Uint8Array, limits: DataLimits = DATA_LIMITS): Map<string, Tensor> {
  const budget = new ByteBudget(limits.maxTensorBytes, "the decoded arrays");
  const tensors = new Map<string, Tensor>();
  for (const entry of readZip(bytes, limits)) {
    const name = entry.name.replace(/\.npy$/, "");
    tensors.set(name, readNpy(entry.read(), `npz array ${name}`, limits, budget));
  }
  return tensors;
}
