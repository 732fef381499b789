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
from pathlib import Path

import torch
from _speed_mnist import bench_mnist, bench_tanh
from _speed_toy2d import bench_toy2d

HERE = Path(__file__).resolve().parent


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
