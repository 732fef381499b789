"""Training speed of the issue-15 workloads, ours against the reference code in the same run.

Every figure is a ratio of two measurements taken side by side in this process (or, for the
2D reference, in a subprocess started between our repeats), one torch thread each, repeats
interleaved and the median kept; the machine's load average is printed and stored with each.

Workloads (``--only``):

* ``mnist``: one training step of the papers' MNIST classifier (Conv2d 1 -> 8 3x3, per-pixel
  MS1 with L = 4, h = 0.4, Linear 6272 -> 10; Adam lr 0.04, weight decay 1e-3, batch 100,
  cross-entropy + the smoothness regulariser) on a stream of random images of MNIST's shape
  (``--data mnist``: MNIST's training images, from the cache), after 150 warm-up steps: ours
  (``fused``, the default: the first stage in MS1's C stack where it builds), ours with the
  fused node's torch path (``use_c=False``), ours as it was (``fused=False``: the plain
  layer loop) and the reference ``Net`` of DecodEPFL/HamiltonianNet's
  ``examples/run_MNIST.py`` with its own
  training step (log-softmax + NLL, its regulariser added ``L - 1`` times, ``torch.optim.Adam``;
  ours use the Adam ``hamnets classify`` uses, :func:`hamnets.training._adam.adam`).
  Reported in images/s, with the fraction of the compute bound: the step's matrix-product
  FLOPs (counted from the shapes) per image times images/s, over this machine's float32
  matrix-product rate measured in the same run (a 512 x 512 product, one thread).
* ``toy2d``: the 2D paper protocol, H1_J1 on swiss_roll, L = 16, T = 1.2, 50 epochs (the
  reference's defaults), in CPU seconds of the training call: ours (``fit_classifier`` as
  ``hamnets classify --protocol paper`` runs it), ours as it was (``fused=False``: the plain
  layer loop, torch read-out, ``torch.optim.Adam``), and the reference through
  ``_reference_hdnn.py`` (as in ``toy2d.py``), the three alternated seed by seed. With the
  fraction of the compute bound: the run's matrix-product FLOPs (:func:`paper2d_flops`,
  0.66 GFLOP) at the rate measured before each seed, over the CPU seconds; a fraction of a
  percent, as expected of products of 4 x 4 matrices: the run is bound by per-operation
  overhead.

Subnormal floats: once the classifier is confident, cross-entropy's gradients hold many
subnormal numbers and every matrix product that reads them runs up to 100x slower (no path is
immune; how many there are depends on where each model's training has got to). On real MNIST
this makes a step 1.5-2x slower for our model; ``--flush-denormal`` measures with them
flushed to zero (``torch.set_flush_denormal``, process-wide, for every path alike).

Freed memory: every ``hamnets`` command starts with
:func:`hamnets.cli._common.keep_freed_memory` (glibc keeps freed blocks for reuse instead of
page-faulting fresh ones in on every step); this benchmark does the same at its start, so
every contestant in the process runs with it, the reference included (``--no-keep-freed-memory``
measures without it).

On a GPU (``--device cuda``, the MNIST workload only): ours as ``hamnets classify`` runs it
there (the plain modules) and the reference ``Net`` on the same GPU, in wall seconds with the
GPU synchronised around each repeat, against the GPU's float32 matrix-product rate (a 4096 x
4096 product). This path has not been run yet: no GPU was lent to the sessions that wrote it.

The reference is a checkout outside this repository (``--reference-dir``); without it only
our two paths are compared. torchvision (and scipy) are not needed: ``run_MNIST.py`` imports them
at the top, so stub modules stand in for them (the ``Net`` class does not use them).

Usage::

    .venv/bin/python benchmarks/speed.py --reference-dir /tmp/refs/HamiltonianNet
    .venv/bin/python benchmarks/speed.py --only mnist --repeats 7 --reference-dir ...
    .venv/bin/python benchmarks/speed.py --only mnist --device cuda --reference-dir ...
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent

BATCH = 100
MS1_H, MS1_LAYERS, MS1_WD, MS1_ALPHA, LR = 0.4, 4, 1e-3, 1e-3, 0.04


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _sync(device: torch.device) -> None:
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
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * size**3 / statistics.median(times) / 1e9


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
            _sync(dev)
            t0 = time.perf_counter()
            for k in batches:
                step(xs[k], ys[k])
            _sync(dev)
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


# -- 2D paper protocol ------------------------------------------------------------------------
def paper2d_flops(
    nf: int = 4,
    layers: int = 16,
    batch: int = 125,
    n_train: int = 4000,
    epochs: int = 50,
    readout_steps: int = 10,
    final_epochs: int = 50,
) -> int:
    """Matrix-product FLOPs of one 2D paper-protocol run (H1, the shapes of its products).

    Per training step: the network's two ``(nf, nf) @ (nf, B)`` products per layer forward
    and four backward (input and weight gradients), ``6 x 2 nf^2 B L``; the read-out fits,
    two ``(B, nf + 1)`` matrix-vector products per Adam step, ``readout_steps + 1`` of them
    (the fit and the loss). The final read-out: two products per step. Elementwise work
    (tanh, Adam) is not counted.
    """
    spe = n_train // batch
    network = 6 * 2 * nf * nf * batch * layers
    readout = (readout_steps + 1) * 2 * 2 * batch * (nf + 1)
    final = final_epochs * spe * 2 * 2 * batch * (nf + 1)
    return epochs * spe * (network + readout) + final


def _ours_toy2d(fused: bool, seed: int) -> dict:
    from hamnets.training import ClassifyConfig, fit_classifier

    cfg = ClassifyConfig(
        dataset="swiss_roll",
        model="H1_J1",
        seed=seed,
        protocol="paper",
        layers=16,
        t_end=1.2,
        fused=fused,
    )
    m = fit_classifier(cfg).metrics
    return {"cpu_seconds": m["cpu_seconds"], "test_accuracy": m["test_accuracy"]}


def _reference_toy2d(ref_dir: str, seed: int) -> dict:
    cmd = [sys.executable, str(HERE / "_reference_hdnn.py"), ref_dir, "H1_J1", "swiss_roll"]
    out = subprocess.run(cmd + ["16", "1.2", str(seed)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"reference run failed:\n{out.stderr[-2000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    return {"cpu_seconds": row["cpu_seconds"], "test_accuracy": row["test_accuracy"]}


def bench_toy2d(ref_dir: str | None, repeats: int) -> dict:
    runs = {
        "ours": lambda seed: _ours_toy2d(True, seed),
        "ours_unfused": lambda seed: _ours_toy2d(False, seed),
    }
    if ref_dir:
        runs["reference"] = lambda seed: _reference_toy2d(ref_dir, seed)
    rows: dict[str, list[dict]] = {k: [] for k in runs}
    load_before = load()
    gflops = []
    for seed in range(repeats):
        gflops.append(gemm_gflops(repeats=5))
        for name, run in runs.items():
            rows[name].append(run(seed))
    rate, flops = statistics.median(gflops), paper2d_flops()
    out = {
        "workload": "2D paper protocol, H1_J1, swiss_roll, L=16, T=1.2, 50 epochs",
        "load_before": load_before,
        "load_after": load(),
        "seeds": list(range(repeats)),
        "gemm_gflops": round(rate, 1),
        "flops_per_run": flops,
        "compute_bound_cpu_seconds": round(flops / (rate * 1e9), 4),
    }
    for name, rs in rows.items():
        median = statistics.median(r["cpu_seconds"] for r in rs)
        out[name] = {
            "cpu_seconds": [round(r["cpu_seconds"], 2) for r in rs],
            "cpu_seconds_median": round(median, 2),
            "test_accuracy": [r["test_accuracy"] for r in rs],
            "fraction_of_compute_bound": round(flops / (rate * 1e9) / median, 5),
        }
    per_seed = [
        r["cpu_seconds"] / o["cpu_seconds"]
        for r, o in zip(rows.get("reference", []), rows["ours"], strict=False)
    ]
    if per_seed:
        out["per_seed_ratio_reference_over_ours"] = [round(x, 2) for x in per_seed]
    base = out["ours"]["cpu_seconds_median"]
    out["ratio_unfused_over_ours"] = round(out["ours_unfused"]["cpu_seconds_median"] / base, 2)
    if "reference" in out:
        out["ratio_reference_over_ours"] = round(out["reference"]["cpu_seconds_median"] / base, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", default=["mnist", "toy2d"], choices=["mnist", "toy2d"])
    p.add_argument("--reference-dir", default=None, help="a checkout of DecodEPFL/HamiltonianNet")
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats (median kept)")
    p.add_argument("--steps", type=int, default=5, help="MNIST training steps per repeat")
    p.add_argument("--toy2d-repeats", type=int, default=3, help="2D runs (seeds) per path")
    p.add_argument(
        "--data", choices=["random", "mnist"], default="random",
        help="MNIST workload: random images or the cached MNIST training images",
    )  # fmt: skip
    p.add_argument(
        "--flush-denormal", action="store_true",
        help="torch.set_flush_denormal(True) for the whole run (all paths alike)",
    )  # fmt: skip
    p.add_argument(
        "--keep-freed-memory", action=argparse.BooleanOptionalAction, default=True,
        help="glibc keeps freed memory, as every hamnets command sets at its start (default: "
        "yes; process-wide, for every contestant alike)",
    )  # fmt: skip
    p.add_argument(
        "--device", default="cpu",
        help="the MNIST workload's device, e.g. cuda (ours and the reference on the same GPU); "
        "the 2D workload runs on the CPU",
    )  # fmt: skip
    p.add_argument("--out", default=str(HERE / "results" / "speed.json"))
    args = p.parse_args(argv)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        p.error(f"--device {args.device!r} is not a device (cpu, cuda, cuda:1, ...)")
    if device.type not in ("cpu", "cuda"):
        p.error(f"--device {args.device}: this benchmark runs on cpu or cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: no CUDA GPU is visible here")
    if device.type == "cuda" and "toy2d" in args.only:
        p.error("the 2D workload runs on the CPU only; with --device cuda pass --only mnist")

    torch.set_num_threads(1)
    torch.set_flush_denormal(args.flush_denormal)
    if args.keep_freed_memory:
        from hamnets.cli._common import keep_freed_memory

        keep_freed_memory()
    result = {
        "benchmark": "speed",
        "flush_denormal": args.flush_denormal,
        "keep_freed_memory": args.keep_freed_memory,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "threads": 1,
        },
    }
    if "mnist" in args.only:
        a = result["tanh"] = bench_tanh()
        print(
            f"tanh on {a['numbers']} numbers: torch.tanh {a['torch.tanh']['ms']} ms, "
            f"2 sigmoid(2x) - 1 {a['2 sigmoid(2x) - 1']['ms']} ms (and "
            f"{a['sigmoid_form_at_1e-8']:g} at x = 1e-8), numpy's tanh in place "
            f"{a['numpy tanh (in place)']['ms']} ms; load {a['load']}"
        )
        m = result["mnist"] = bench_mnist(
            args.reference_dir, args.repeats, args.steps, args.data, str(device)
        )
        for name in ("ours", "ours_torch_path", "ours_unfused", "reference"):
            if name in m:
                print(
                    f"mnist {name:15s} {m[name]['images_per_s']:8.0f} images/s  "
                    f"{100 * m[name]['fraction_of_compute_bound']:.1f}% of the compute bound"
                )
        nan = float("nan")
        print(
            f"mnist on {m['device']}: ours / reference "
            f"{m.get('ratio_reference_over_ours', nan):.2f}x, ours / unfused "
            f"{m.get('ratio_unfused_over_ours', nan):.2f}x, ours / torch path "
            f"{m.get('ratio_torch_path_over_ours', nan):.2f}x (C stack: {m['c_stack']}); "
            f"matrix products {m['gemm_gflops']:.0f} GFLOP/s, "
            f"{m['flops_per_image'] / 1e6:.2f} MFLOP/image, "
            f"bound {m['compute_bound_images_per_s']} images/s; load {m['load_before']} -> "
            f"{m['load_after']}",
            flush=True,
        )
    if "toy2d" in args.only:
        t = result["toy2d"] = bench_toy2d(args.reference_dir, args.toy2d_repeats)
        for name in ("ours", "ours_unfused", "reference"):
            if name in t:
                print(
                    f"toy2d {name:13s} {t[name]['cpu_seconds_median']:6.2f} CPU-s per run  "
                    f"{100 * t[name]['fraction_of_compute_bound']:.2f}% of the compute bound"
                )
        print(
            f"toy2d: reference / ours {t.get('ratio_reference_over_ours', float('nan')):.2f}x "
            f"less CPU, unfused / ours {t['ratio_unfused_over_ours']:.2f}x; load "
            f"{t['load_before']} -> {t['load_after']}",
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
