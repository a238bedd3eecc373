"""PyTorch side of bench/train.ts: training steps per second, one thread, on the fixture models.

Run by bench/train.ts with Debian's interpreter; prints one JSON object {name: steps_per_second}.
Each step is what a PyTorch user writes: index a batch, forward, loss, backward, (clip), step,
scheduler step. Models, data, optimizer settings and batch size come from worker-runtime/fixtures.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FIXTURES = Path(__file__).resolve().parent.parent / "worker-runtime" / "fixtures"
sys.path.insert(0, str(FIXTURES))
import make_fixtures as fixtures  # noqa: E402

MODELS = {"mlp": fixtures.Mlp, "cnn": fixtures.Cnn, "attention": fixtures.TinyTransformer}


def load(name):
    reference = json.loads((FIXTURES / f"{name}.reference.json").read_text())
    spec = json.loads((FIXTURES / f"{name}.spec.json").read_text())
    path = FIXTURES / reference["data"]
    if path.suffix == ".npz":
        arrays = dict(np.load(path))
    else:
        arrays = read_safetensors(path)
    return spec, torch.from_numpy(arrays[spec["target"]]), torch.from_numpy(arrays[next(iter(spec["inputs"].values()))])


def read_safetensors(path):
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    body = raw[8 + size :]
    kinds = {"F32": np.float32, "I64": np.int64, "F64": np.float64}
    return {
        name: np.frombuffer(body[a:b], dtype=kinds[entry["dtype"]]).reshape(entry["shape"]).copy()
        for name, entry in header.items()
        if name != "__metadata__"
        for a, b in [entry["data_offsets"]]
    }


def steps_per_second(name, warmup, steps, repeats):
    spec, y, x = load(name)
    torch.manual_seed(0)
    model = MODELS[name]()
    model.train()
    optimizer = fixtures.make_optimizer(model.parameters(), spec)
    scheduler = fixtures.torch_scheduler(optimizer, spec.get("schedule", {}), spec["optimizer"]["lr"], 10**6)
    smoothing = spec["loss"].get("label_smoothing", 0.0)
    bs = spec["batch_size"]
    order = torch.randperm(len(x))
    best = 0.0

    def step(i):
        index = order[(i * bs) % (len(x) - bs) :][:bs]
        loss = F.cross_entropy(model(x[index]), y[index], label_smoothing=smoothing)
        optimizer.zero_grad()
        loss.backward()
        if "clip_grad_norm" in spec:
            nn.utils.clip_grad_norm_(model.parameters(), spec["clip_grad_norm"])
        optimizer.step()
        scheduler.step()

    for i in range(warmup):
        step(i)
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        best = max(best, steps / (time.perf_counter() - start))
    return best


def main():
    torch.set_num_threads(1)
    warmup, steps, repeats = (int(v) for v in sys.argv[1:4])
    names = sys.argv[4].split(",")
    print(json.dumps({name: steps_per_second(name, warmup, steps, repeats) for name in names}))


if __name__ == "__main__":
    main()
