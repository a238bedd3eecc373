// NumPy .npz: a zip of .npy files, one per array, named after the array (np.savez / savez_compressed).
import type { Tensor } from "../../onnx/dtypes.ts";
import { readNpy } from "./npy.ts";
import { readZip } from "./zip.ts";

export function readNpz(bytes: Uint8Array): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  for (const entry of readZip(bytes)) {
    const name = entry.name.replace(/\.npy$/, "");
    tensors.set(name, readNpy(entry.data, `npz array ${name}`));
  }
  return tensors;
}
