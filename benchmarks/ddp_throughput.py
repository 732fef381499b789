"""Data-parallel training throughput (samples/s) with 1 and 2 processes, MNIST-sized work.

Work: MNIST-shaped inputs (784 features, 10 classes, synthetic so that no download is needed)
through a fixed random projection to nf = 32 features, an H2-DNN with L = 16 layers and a
linear read-out, trained with Adam on cross-entropy; global batch 256. Each process runs the
same code as ``hamnets classify`` under ``torchrun``: :class:`hamnets.training.Parallel`
shards every global batch and DDP (gloo, 127.0.0.1) averages gradients. One thread per
process. The baseline is the 1-process run measured in the same invocation.

Usage::

    python benchmarks/ddp_throughput.py            # ~1 min; writes benchmarks/results/ddp.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hamnets.distributed import launch
from hamnets.hdnn import H2
from hamnets.training import Parallel

N_SAMPLES, N_IN, N_CLASSES, NF, LAYERS, BATCH = 8192, 784, 10, 32, 16, 256


def _train(rank: int, port: int, world: int, steps: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      GLOO_SOCKET_IFNAME="lo")  # fmt: skip
    torch.set_num_threads(1)
    parallel = Parallel.from_env()
    parallel.init(torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(N_SAMPLES, N_IN, generator=gen)  # (N, 784), MNIST-shaped
    y = torch.randint(0, N_CLASSES, (N_SAMPLES,), generator=gen)
    proj = torch.randn(N_IN, NF, generator=gen) / N_IN**0.5  # (784, nf), fixed
    model = H2(NF, LAYERS, 4.0, generator=gen)
    head = torch.nn.Linear(NF, N_CLASSES)
    net, out_head = parallel.wrap(model), parallel.wrap(head)
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-3)

    def step(i: int) -> None:
        idx = torch.arange(i * BATCH, (i + 1) * BATCH) % N_SAMPLES
        idx = parallel.shard(idx)  # (BATCH / world,)
        loss = F.cross_entropy(out_head(net(x[idx] @ proj)), y[idx])
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
    parser.add_argument("--out", default="benchmarks/results/ddp.json")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for world in args.processes:
            out = str(Path(tmp) / f"{world}.json")
            launch(_train, world, args=(world, args.steps, out), timeout_s=600)
            seconds = json.loads(Path(out).read_text())["seconds"]
            rows.append(
                {"processes": world, "steps": args.steps, "global_batch": BATCH,
                 "seconds": seconds, "samples_per_s": args.steps * BATCH / seconds}
            )  # fmt: skip
    base = rows[0]["samples_per_s"]
    for r in rows:
        r["speedup"] = r["samples_per_s"] / base
        print(f"{r['processes']} process(es): {r['samples_per_s']:8.0f} samples/s  "
              f"x{r['speedup']:.2f} vs {rows[0]['processes']}")  # fmt: skip
    result = {
        "benchmark": "ddp_throughput",
        "work": {
            "inputs": N_IN,
            "classes": N_CLASSES,
            "nf": NF,
            "layers": LAYERS,
            "model": "H2",
            "samples": N_SAMPLES,
        },  # fmt: skip
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
