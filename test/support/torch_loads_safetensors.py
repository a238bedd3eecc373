"""Loads a safetensors file into the PyTorch module an ONNX fixture was exported from.

    /usr/bin/python3 test/support/torch_loads_safetensors.py WEIGHTS.safetensors MODEL.onnx Cnn

Reads the file with nothing but the format's definition (u64 header size, JSON header, raw
little-endian bytes), calls `load_state_dict` on a fresh module of the named class from
worker-runtime/fixtures/make_fixtures.py, and checks every loaded tensor equals the ONNX model's
initializer of that name. Prints one JSON object; exits non-zero if anything does not hold.
"""

import json
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "worker-runtime" / "fixtures"))
import make_fixtures  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64}


def read_safetensors(path):
    data = Path(path).read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    body = data[8 + size :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def main(weights_path, onnx_path, class_name):
    weights = read_safetensors(weights_path)
    module = getattr(make_fixtures, class_name)()
    result = module.load_state_dict(weights, strict=False)
    initializers = {i.name: numpy_helper.to_array(i) for i in onnx.load(onnx_path).graph.initializer}
    state = module.state_dict()
    mismatched = [
        name for name in weights if not np.array_equal(state[name].numpy(), initializers[name])
    ]
    report = {
        "loaded": sorted(weights),
        "missing": sorted(result.missing_keys),
        "unexpected": sorted(result.unexpected_keys),
        "mismatched": mismatched,
    }
    print(json.dumps(report))
    # BatchNorm's num_batches_tracked is PyTorch bookkeeping with no ONNX initializer.
    ok = (
        not report["unexpected"]
        and not mismatched
        and all(k.endswith("num_batches_tracked") for k in report["missing"])
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
