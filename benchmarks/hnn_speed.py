"""Process CPU seconds of ``hamnets hnn --system spring`` against greydanus/hamiltonian-nn.

What is compared (issue 15): the paper's spring experiment as a user runs it, whole processes,
imports, data, training, evaluation and files included.

* reference: ``experiment-spring/train.py`` of greydanus/hamiltonian-nn (a checkout outside
  this repository, ``--reference-dir``), run twice as the paper does, for the HNN and then
  with ``--baseline``: 2000 full-batch Adam steps each on 750 pairs, 200-200 tanh MLPs (it
  also evaluates its test loss every step). One thread: ``OMP_NUM_THREADS=1``, and
  ``torch.set_num_threads(1)`` before its ``train.py`` runs. It imports ``imageio`` and
  ``scipy.misc`` without using them; where they are missing a stub module stands in.
* hamnets: ``python -m hamnets hnn --system spring --out TMP --overwrite --quiet``, the
  defaults (the same settings: HNN and MLP baseline, 2000 full-batch Adam steps each, lr 1e-3,
  weight decay 1e-4; then the evaluation rollouts and the two plots), its default one thread.
* optionally (``--also NAME=SRC``, repeatable) another hamnets source tree run the same way
  with ``PYTHONPATH=SRC``: a version before a change, measured beside the new one.

Each contestant is a child process; its CPU time is ``ru_utime + ru_stime`` from ``wait4``
(user + system time of the whole process). The contestants run one after another within a
repeat, their order rotating from repeat to repeat; medians over ``--repeats`` are kept, and the
ratio is reference / hamnets of the medians (with the range of the per-repeat ratios). The load
average is stored beside each run: on a shared machine, compare ratios, not seconds.

Against the machine: before each repeat this script measures one thread's float32
matrix-product rate (``_machine.gemm_gflops``, a 512 x 512 product), and prints the fraction of
the compute bound, the training's matrix-product FLOPs (:func:`spring_flops`: the HNN's six
``(750, 200) x (200, 200)`` products per step and the baseline's three, with the skinny ones
of the 2-wide layers; about 1.09 TFLOP for the 4000 steps) at that rate over each contestant's
median CPU seconds (imports, data, rollouts and plots are outside the bound).

Usage (from the repository root, after ``make install``; about 65 s a repeat)::

    .venv/bin/python benchmarks/hnn_speed.py --reference-dir /tmp/greydanus --repeats 3

Writes ``benchmarks/results/hnn_speed.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: runs the reference's train.py as ``python train.py [--baseline]`` would, in one process,
#: with stubs for the two modules it imports and does not use when they are missing
REFERENCE_LAUNCHER = """
import importlib, runpy, sys, types
for name in ("imageio", "scipy.misc"):
    try:
        importlib.import_module(name)
    except ImportError:
        sys.modules[name] = types.ModuleType(name)
import torch
torch.set_num_threads(1)
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


def measured(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict:
    """Run ``cmd`` to its end: its CPU seconds (user + system of the whole process, from the
    growth of ``RUSAGE_CHILDREN``: exact, since this script runs one child at a time), wall
    seconds, minor page faults, and the 1-minute load average before it."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    user, sys_ = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return {
        "cpu_s": user + sys_,
        "user_s": user,
        "sys_s": sys_,
        "wall_s": wall,
        "minor_faults": after.ru_minflt - before.ru_minflt,
        "load_1min_before": load,
    }


def reference_runs(reference_dir: Path, env: dict[str, str]) -> dict:
    """The reference's HNN and baseline processes; CPU seconds of both together."""
    exp = reference_dir / "experiment-spring"
    if not (exp / "train.py").is_file():
        raise SystemExit(
            f"{exp / 'train.py'} not found: --reference-dir must be a greydanus/hamiltonian-nn "
            "checkout"
        )
    ref_env = dict(env, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as save:
        parts = {}
        for label, extra in (("hnn", []), ("baseline", ["--baseline"])):
            cmd = [sys.executable, "-c", REFERENCE_LAUNCHER, *extra, "--save_dir", save]
            parts[label] = measured(cmd, exp, ref_env)
    keys = ("cpu_s", "user_s", "sys_s", "wall_s", "minor_faults")
    total = {k: sum(p[k] for p in parts.values()) for k in keys}
    return {**total, "load_1min_before": parts["hnn"]["load_1min_before"], "parts": parts}


def hamnets_run(src: Path | None, env: dict[str, str]) -> dict:
    """``hamnets hnn --system spring`` (defaults) into a fresh folder; with ``src``, the
    hamnets package found there instead of the installed one."""
    if src is not None:
        env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "hamnets", "hnn", "--system", "spring", "--out", str(out)]
        rec = measured([*cmd, "--overwrite", "--quiet"], ROOT, env)
        metrics = json.loads((out / "metrics.json").read_text())
    keys = ("train_derivative_mse", "test_derivative_mse", "state_mse", "energy_mse")
    rec["metrics"] = {k: metrics[k] for k in keys}
    rec["metrics"]["baseline_state_mse"] = metrics["baseline"]["state_mse"]
    rec["cpu_seconds_in_run"] = metrics.get("cpu_seconds")
    return rec


def spring_flops(steps: int = 2000, rows: int = 750, width: int = 200, dim: int = 2) -> int:
    """The matrix-product FLOPs of the spring run's two trainings (``steps`` Adam steps each
    of a ``dim``-``width``-``width`` tanh network at ``rows`` pairs): per step the HNN's six
    ``width x width`` products (two for ``grad H``, four for its parameter gradient) and the
    baseline's three, and five ``dim``-wide ones each."""
    wide, skinny = 2 * rows * width * width, 2 * rows * width * dim
    return steps * ((6 + 3) * wide + (5 + 5) * skinny)


def _gemm_rate() -> float:
    """One thread's float32 matrix-product rate, GFLOP/s (``_machine.gemm_gflops``)."""
    import torch

    sys.path.insert(0, str(HERE))
    from _machine import gemm_gflops

    torch.set_num_threads(1)
    return gemm_gflops(repeats=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference-dir",
        type=Path,
        default=None,
        help="a greydanus/hamiltonian-nn checkout (outside this repository)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=SRC",
        help="another hamnets source folder to run beside (e.g. before=...)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "hnn_speed.json")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    also = {}
    for item in args.also:
        name, sep, src = item.partition("=")
        if not sep or not name or not Path(src, "hamnets").is_dir():
            parser.error(f"--also wants NAME=SRC with SRC/hamnets a folder, got {item!r}")
        also[name] = Path(src).resolve()

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "PYTHONPATH")}
    contestants = {"hamnets": lambda: hamnets_run(None, env)}
    for name, src in also.items():
        contestants[f"hamnets@{name}"] = lambda src=src: hamnets_run(src, env)
    if args.reference_dir is not None:
        ref = args.reference_dir.resolve()
        contestants["reference"] = lambda: reference_runs(ref, env)

    names = list(contestants)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    rates = []
    for r in range(args.repeats):
        rates.append(_gemm_rate())
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate the order
        for name in order:
            rec = contestants[name]()
            rec["repeat"] = r
            runs[name].append(rec)
            print(
                f"repeat {r}: {name:18s} {rec['cpu_s']:7.2f} CPU s (user {rec['user_s']:.2f}, "
                f"sys {rec['sys_s']:.2f}; load {rec['load_1min_before']:.2f})",
                flush=True,
            )

    summary = {}
    for name in names:
        cpu = [rec["cpu_s"] for rec in runs[name]]
        summary[name] = {
            "median_cpu_s": statistics.median(cpu),
            "min_cpu_s": min(cpu),
            "max_cpu_s": max(cpu),
        }
    if "reference" in runs:
        ref_median = summary["reference"]["median_cpu_s"]
        for name in names:
            if name == "reference":
                continue
            paired = [
                a["cpu_s"] / b["cpu_s"] for a, b in zip(runs["reference"], runs[name], strict=True)
            ]
            summary[name]["ratio_reference_over_this"] = ref_median / summary[name]["median_cpu_s"]
            summary[name]["per_repeat_ratio_min_max"] = [min(paired), max(paired)]

    rate = statistics.median(rates)
    bound_s = spring_flops() / (rate * 1e9)
    for name in names:
        if name != "reference":  # (the reference's products are the same, in autograd)
            summary[name]["fraction_of_compute_bound"] = bound_s / summary[name]["median_cpu_s"]

    print(f"\nmedians over {args.repeats} repeats (process CPU seconds, user + system):")
    for name in names:
        s = summary[name]
        line = f"  {name:18s} {s['median_cpu_s']:7.2f}  (range {s['min_cpu_s']:.2f}"
        line += f"-{s['max_cpu_s']:.2f})"
        if "ratio_reference_over_this" in s:
            lo, hi = s["per_repeat_ratio_min_max"]
            line += f"  reference / this = {s['ratio_reference_over_this']:.2f}x"
            line += f" (per repeat {lo:.2f}-{hi:.2f})"
        if "fraction_of_compute_bound" in s:
            line += f"; {100 * s['fraction_of_compute_bound']:.0f}% of the compute bound"
        print(line)
    print(
        f"compute bound: {spring_flops() / 1e12:.3f} TFLOP of products at {rate:.0f} GFLOP/s "
        f"(one thread, median of {len(rates)}) = {bound_s:.1f} s"
    )

    result = {
        "what": "process CPU seconds (user + system) of the spring experiment at the paper's "
        "settings: hamnets hnn --system spring against greydanus/hamiltonian-nn "
        "experiment-spring/train.py (HNN, then --baseline)",
        "command": "benchmarks/hnn_speed.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "repeats": args.repeats,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "summary": summary,
        "gemm_gflops": rates,
        "training_product_flops": spring_flops(),
        "compute_bound_s": bound_s,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
