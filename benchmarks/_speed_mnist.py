"""The MNIST workload of ``speed.py``: a training step of the papers' MNIST classifier (ours,
its torch path, the plain loop, the reference ``Net``), and ``tanh``'s three forms."""

from __future__ import annotations

import statistics
import sys
import time
import types

import torch
import torch.nn.functional as F
from _machine import gemm_gflops, load, sync

BATCH = 100
MS1_H, MS1_LAYERS, MS1_WD, MS1_ALPHA, LR = 0.4, 4, 1e-3, 1e-3, 0.04


def ms1_classifier_flops(channels: int = 8, layers: int = 4, pixels: int = 784) -> int:
    """Matrix-product FLOPs of one training image (forward and backward) of the MNIST model.

    Convolution 1 -> C (3x3): forward and weight gradient, ``2 x 2 C 9`` per pixel; per-pixel
    MS1 (two ``(C/2)^2`` products per layer): forward, input and weight gradients, ``3 x 2 x
    2 (C/2)^2`` per pixel and layer; the linear map (``C pixels -> 10``): ``3 x 2 x 10 C
    pixels``. Elementwise work (tanh, additions) is not counted.
    """
    n = channels // 2
    conv = 2 * (2 * channels * 9) * pixels
    hdnn = 3 * (2 * 2 * n * n) * layers * pixels
    fc = 3 * 2 * 10 * channels * pixels
    return conv + hdnn + fc


# -- the activation ---------------------------------------------------------------------------
def bench_tanh(repeats: int = 31) -> dict:
    """``torch.tanh`` against ``2 sigmoid(2x) - 1`` and numpy's ``tanh`` (what the fused
    layers use, :func:`hamnets._kernels.tanh_`, in place) on the MNIST model's half-states (4 x
    78400 numbers), and the sigmoid form's error at small arguments (where it loses every
    digit)."""
    from hamnets._kernels import tanh_

    x = torch.randn(4, BATCH * 784)
    buf = torch.empty_like(x)
    candidates = {
        "torch.tanh": lambda: torch.tanh(x),
        "2 sigmoid(2x) - 1": lambda: torch.sigmoid(2 * x).mul_(2).sub_(1),
        "numpy tanh (in place)": lambda: tanh_(buf.copy_(x)),
    }
    times: dict[str, list[float]] = {k: [] for k in candidates}
    for _ in range(repeats):
        for name, f in candidates.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    small = torch.full((1,), 1e-8)
    return {
        "numbers": x.numel(),
        "load": load(),
        **{k: {"ms": round(1e3 * statistics.median(v), 3)} for k, v in times.items()},
        "sigmoid_form_at_1e-8": float(torch.sigmoid(2 * small) * 2 - 1),
    }


# -- MNIST ----------------------------------------------------------------------------------
def _ours_mnist(fused: bool | None, gen: torch.Generator, use_c: bool = True, device="cpu"):
    from hamnets.training._adam import adam
    from hamnets.vision._classifier import HDNNImageClassifier

    model = HDNNImageClassifier("MS1", MS1_LAYERS, MS1_H, generator=gen, fused=fused)
    model = model.to(device)
    model.hdnn.use_c = use_c  # MS1's C stack (the default where it builds)
    opt = adam(model.parameters(), lr=LR, weight_decay=MS1_WD)  # what classify builds

    def step(x, y):
        loss = F.cross_entropy(model(x), y) + model.regularizer(MS1_ALPHA)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def c_stack_built() -> bool:
    """Whether MS1's C stack runs here (hamnets.hdnn._cstack); else "ours" is the torch path."""
    from hamnets.hdnn import _cstack

    return _cstack.ms1_library() is not None


def _reference_mnist(ref_dir: str, device="cpu"):
    if "torchvision" not in sys.modules:  # run_MNIST.py imports it; Net does not use it
        stub = types.ModuleType("torchvision")
        stub.datasets, stub.transforms = types.ModuleType("datasets"), types.ModuleType("t")
        sys.modules["torchvision"] = stub
    try:
        import scipy.sparse  # noqa: F401  (the reference's integrators import it; MS1 does not use it)
    except ImportError:
        sparse = types.ModuleType("scipy.sparse")
        sparse.coo_matrix = None
        sys.modules["scipy"], sys.modules["scipy.sparse"] = types.ModuleType("scipy"), sparse
    sys.path.insert(0, ref_dir)
    from examples.run_MNIST import Net
    from regularization.regularization import regularization

    torch.manual_seed(0)  # the reference draws its weights from the global generator
    model = Net(nf=8, n_layers=MS1_LAYERS, h=MS1_H, net_type="MS1").to(device)  # as its main
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=MS1_WD)

    def step(x, y):  # the body of run_MNIST.train
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        K, b = model.hamiltonian.getK(), model.hamiltonian.getb()
        for _ in range(MS1_LAYERS - 1):
            loss = loss + regularization(MS1_ALPHA, MS1_H, K, b)
        loss.backward()
        opt.step()

    return step


def _mnist_batches(data: str, n_batches: int, gen: torch.Generator):
    """``n_batches`` training batches: random images, or MNIST's first images normalised."""
    if data == "random":
        xs = torch.randn(n_batches, BATCH, 1, 28, 28, generator=gen)
        return xs, torch.randint(0, 10, (n_batches, BATCH), generator=gen)
    from hamnets.datasets import load_dataset

    d = load_dataset("mnist", download=False)  # from the cache (`hamnets data mnist`)
    n = n_batches * BATCH
    x = torch.from_numpy(d.train_images[:n]).float().div_(255)
    x = (x - x.mean()) / x.std()
    y = torch.from_numpy(d.train_labels[:n])
    return x.view(n_batches, BATCH, 1, 28, 28), y.view(n_batches, BATCH)


def bench_mnist(
    ref_dir: str | None, repeats: int, steps: int, data: str = "random", device: str = "cpu"
) -> dict:
    """The MNIST workload on ``device``: on a CPU ours (the C stack), its torch path, the
    plain loop and the reference; on a GPU ours as ``classify`` runs there (the plain
    modules) and the reference on the same GPU, timed in wall seconds with the GPU
    synchronised around each repeat."""
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    # A stream of distinct batches: on one repeated batch the classifier memorises it, the
    # gradients become subnormal floats and every path slows down several times. The first
    # 150 steps bring the models into the training regime (the papers' lr 0.04 sends the
    # loss through a spike at first).
    n_batches, warmup = 64, 150
    xs, ys = _mnist_batches(data, n_batches, gen)
    xs, ys = xs.to(dev), ys.to(dev)
    if dev.type == "cpu":
        runs = {
            "ours": _ours_mnist(True, gen),
            "ours_torch_path": _ours_mnist(True, gen, use_c=False),
            "ours_unfused": _ours_mnist(False, gen),
        }
    else:  # (fused=None: what classify picks on this device)
        runs = {"ours": _ours_mnist(None, gen, device=dev)}
    if ref_dir:
        runs["reference"] = _reference_mnist(ref_dir, dev)
    for step in runs.values():
        for k in range(warmup):
            step(xs[k % n_batches], ys[k % n_batches])
    gflops = []
    times: dict[str, list[float]] = {k: [] for k in runs}
    load_before = load()
    for r in range(repeats):
        gflops.append(gemm_gflops(repeats=5, device=dev))
        batches = [(r * steps + k) % n_batches for k in range(steps)]
        for name, step in runs.items():
            sync(dev)
            t0 = time.perf_counter()
            for k in batches:
                step(xs[k], ys[k])
            sync(dev)
            times[name].append((time.perf_counter() - t0) / steps)
    rate = statistics.median(gflops)
    flops = ms1_classifier_flops()
    out = {
        "workload": "MNIST paper classifier (MS1, C=8, L=4), training, batch 100",
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "data": data,
        "load_before": load_before,
        "load_after": load(),
        "gemm_gflops": round(rate, 1),
        "flops_per_image": flops,
        "compute_bound_images_per_s": round(rate * 1e9 / flops),
        "steps_per_repeat": steps,
        "repeats": repeats,
    }
    for name, ts in times.items():
        ips = BATCH / statistics.median(ts)
        out[name] = {
            "images_per_s": round(ips, 1),
            "step_ms": [round(1e3 * t, 2) for t in ts],
            "fraction_of_compute_bound": round(ips * flops / (rate * 1e9), 4),
        }
    base = statistics.median(times["ours"])
    for name, key in (("ours_unfused", "unfused"), ("ours_torch_path", "torch_path")):
        if name in times:
            out[f"ratio_{key}_over_ours"] = round(statistics.median(times[name]) / base, 2)
    out["c_stack"] = c_stack_built() and dev.type == "cpu"
    if "reference" in times:
        out["ratio_reference_over_ours"] = round(statistics.median(times["reference"]) / base, 2)
    return out
