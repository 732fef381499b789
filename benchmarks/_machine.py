"""The machine side of the speed benchmarks: its load, and its float32 matrix-product rate
(the compute bound every ratio is put against), on one CPU thread or a GPU."""

from __future__ import annotations

import os
import statistics
import time

import torch


def load() -> list[float]:
    """The 1-, 5- and 15-minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a GPU runs asynchronously; a CPU does not)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_gflops(size: int = 512, repeats: int = 15, device: str | torch.device = "cpu") -> float:
    """The float32 matrix-product rate of one CPU thread (or of ``device``, a GPU: then a
    4096 x 4096 product, TF32 off as torch's default), median of ``repeats``."""
    device = torch.device(device)
    size = 4096 if device.type == "cuda" else size
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * size**3 / statistics.median(times) / 1e9
