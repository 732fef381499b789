"""Data-parallel training throughput (samples/s) with 1 and 2 processes, MNIST-sized work.

Two workloads, both on synthetic MNIST-shaped data (28x28 images / 784 features, 10 classes)
so that no download is needed, trained with Adam on cross-entropy:

- ``mnist``: the paper's MNIST classifier as ``hamnets classify --dataset mnist`` builds it
  (Conv2d 1 -> 8, a per-pixel MS1 H-DNN with L = 4, h = 0.4, Linear 6272 -> 10), global
  batch 100 (the paper's). Compute per step is large against one gradient all-reduce.
- ``tiny``: a fixed random projection 784 -> 32, an H2-DNN with L = 16 and a linear read-out,
  global batch 256: a step takes about a millisecond, so the all-reduce dominates. It shows
  where data parallelism stops paying on one machine.

Each process runs the same code as ``hamnets classify`` under ``torchrun``:
:class:`hamnets.training.Parallel` shards every global batch and DDP (gloo, 127.0.0.1)
averages gradients. One thread per process. The baseline of each workload is its 1-process
run measured in the same invocation.

Usage::

    python benchmarks/ddp_throughput.py            # ~2 min; writes benchmarks/results/ddp.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hamnets.distributed import launch
from hamnets.hdnn import H2
from hamnets.training import Parallel
from hamnets.vision import HDNNImageClassifier

N_SAMPLES, N_IN, N_CLASSES = 8192, 784, 10
WORKS = {
    "mnist": {"model": "MS1", "channels": 8, "layers": 4, "h": 0.4, "batch": 100},
    "tiny": {"model": "H2", "nf": 32, "layers": 16, "h": 0.25, "batch": 256},
}


def _build(work: str, gen: torch.Generator) -> tuple[torch.nn.Module, torch.Tensor]:
    """The model and its (N_SAMPLES, ...) inputs."""
    w = WORKS[work]
    if work == "mnist":
        x = torch.rand(N_SAMPLES, 1, 28, 28, generator=gen)  # (N, 1, 28, 28)
        model = HDNNImageClassifier(w["model"], w["layers"], w["h"], channels=w["channels"],
                                    generator=gen)  # fmt: skip
        return model, x
    x = torch.randn(N_SAMPLES, N_IN, generator=gen)  # (N, 784)
    proj = torch.randn(N_IN, w["nf"], generator=gen) / N_IN**0.5  # (784, nf), fixed
    model = torch.nn.Sequential(H2(w["nf"], w["layers"], w["h"] * w["layers"], generator=gen),
                                torch.nn.Linear(w["nf"], N_CLASSES))  # fmt: skip
    return model, x @ proj


def _train(rank: int, port: int, world: int, work: str, steps: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      GLOO_SOCKET_IFNAME="lo")  # fmt: skip
    torch.set_num_threads(1)
    parallel = Parallel.from_env()
    parallel.init(torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    model, x = _build(work, gen)
    y = torch.randint(0, N_CLASSES, (N_SAMPLES,), generator=gen)
    batch = WORKS[work]["batch"]
    net = parallel.wrap(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(i: int) -> None:
        idx = torch.arange(i * batch, (i + 1) * batch) % N_SAMPLES
        idx = parallel.shard(idx)  # (batch / world,)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(5):  # warm-up
        step(i)
    parallel.sum(0.0)  # line the ranks up before timing
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    parallel.sum(0.0)
    seconds = time.perf_counter() - start
    if parallel.is_main:
        Path(out).write_text(json.dumps({"seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--work", choices=sorted(WORKS), nargs="+", default=["mnist", "tiny"])
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per (work, processes), interleaved; median kept")  # fmt: skip
    parser.add_argument("--out", default="benchmarks/results/ddp.json")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for work in args.work:
            batch = WORKS[work]["batch"]
            runs: dict[int, list[float]] = {world: [] for world in args.processes}
            for _ in range(args.repeats):  # interleaved, so drift in machine speed hits all
                for world in args.processes:
                    out = str(Path(tmp) / f"{work}-{world}.json")
                    launch(_train, world, args=(world, work, args.steps, out), timeout_s=600)
                    runs[world].append(json.loads(Path(out).read_text())["seconds"])
            first = None
            for world in args.processes:
                seconds = statistics.median(runs[world])
                row = {"work": work, "processes": world, "steps": args.steps,
                       "global_batch": batch, "seconds": seconds, "seconds_all": runs[world],
                       "samples_per_s": args.steps * batch / seconds}  # fmt: skip
                first = first or row
                row["speedup"] = row["samples_per_s"] / first["samples_per_s"]
                rows.append(row)
                print(f"{work:5s} {world} process(es): {row['samples_per_s']:8.0f} samples/s  "
                      f"x{row['speedup']:.2f} vs {first['processes']}", flush=True)  # fmt: skip
    result = {
        "benchmark": "ddp_throughput",
        "works": {w: WORKS[w] for w in args.work},
        "samples": N_SAMPLES,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0],
        },  # fmt: skip
        "rows": rows,
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_path, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
