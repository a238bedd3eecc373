"""PyTorch side of bench/train.ts: training steps per second, one thread, on the fixture models,
and the one-thread SGEMM bound of the compute-bound model.

Run by bench/train.ts with Debian's interpreter as a long-lived child, so the two sides can be
measured in alternating bursts on a shared machine: it reads lines "<model> <steps>" on stdin and
answers each with the steps per second of that burst, by the clock and per CPU-second ("sgemm" runs just the matrix products of
one training step of the compute-bound MLP, with numpy on OpenBLAS, OPENBLAS_NUM_THREADS=1 set by
the parent). "ready" is printed once all models are built and warmed up.
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


def timed(step, steps):
    """Steps per second by the clock and per CPU-second of the process."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return {"wall": steps / (time.perf_counter() - wall), "cpu": steps / (time.process_time() - cpu)}


class Trainer:
    """One fixture model training with its spec's optimizer, ready to run bursts of steps."""

    def __init__(self, name, warmup):
        spec, self.y, self.x = load(name)
        torch.manual_seed(0)
        self.model = MODELS[name]()
        self.model.train()
        self.spec = spec
        self.optimizer = fixtures.make_optimizer(self.model.parameters(), spec)
        self.scheduler = fixtures.torch_scheduler(self.optimizer, spec.get("schedule", {}), spec["optimizer"]["lr"], 10**6)
        self.smoothing = spec["loss"].get("label_smoothing", 0.0)
        self.order = torch.randperm(len(self.x))
        self.done = 0
        self.burst(warmup)

    def step(self):
        bs = self.spec["batch_size"]
        start = (self.done * bs) % (len(self.x) - bs)
        index = self.order[start : start + bs]
        loss = F.cross_entropy(self.model(self.x[index]), self.y[index], label_smoothing=self.smoothing)
        self.optimizer.zero_grad()
        loss.backward()
        if "clip_grad_norm" in self.spec:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.spec["clip_grad_norm"])
        self.optimizer.step()
        self.scheduler.step()
        self.done += 1

    def burst(self, steps):
        return timed(self.step, steps)


class Sgemm:
    """The matrix products of one training step of an MLP: forward, weight gradients, and input
    gradients past the first layer, float32 row-major as onnxruntime's Gemm nodes compute them."""

    def __init__(self, shape, warmup):
        batch, widths = shape.split(":")
        widths = [int(w) for w in widths.split(",")]
        rng = np.random.default_rng(0)
        self.weights = [rng.standard_normal((n, k), dtype=np.float32) for k, n in zip(widths, widths[1:])]
        self.activations = [rng.standard_normal((int(batch), w), dtype=np.float32) for w in widths]
        self.burst(warmup)

    def step(self):
        h, w = self.activations, self.weights
        for i, weight in enumerate(w):
            np.matmul(h[i], weight.T)
            np.matmul(h[i + 1].T, h[i])
            if i > 0:
                np.matmul(h[i + 1], weight)

    def burst(self, steps):
        return timed(self.step, steps)


def main():
    torch.set_num_threads(1)
    warmup = int(sys.argv[1])
    names = [name for name in sys.argv[2].split(",") if name != "none"]
    trainers = {name: Trainer(name, warmup) for name in names}
    trainers["sgemm"] = Sgemm(sys.argv[3], warmup)
    print("ready", flush=True)
    for line in sys.stdin:
        name, steps = line.split()
        print(json.dumps(trainers[name].burst(int(steps))), flush=True)


if __name__ == "__main__":
    main()
