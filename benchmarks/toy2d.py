"""Accuracy and CPU time of every H-DNN on every toy 2D set, over seeds, and against the reference.

Usage (from the repository root, after `make install`):

    .venv/bin/python benchmarks/toy2d.py                       # full table, ~30 min CPU
    .venv/bin/python benchmarks/toy2d.py --suites paper16 --models H1_J1 --seeds 0 1
    .venv/bin/python benchmarks/toy2d.py --reference-dir /path/to/HamiltonianNet \
        --reference-runs H1_J1:swiss_roll:16:1.2 --suites paper16 --models H1_J1 \
        --datasets swiss_roll

Suites: `paper16` (paper protocol, L=16, T=1.2: the reference's defaults), `paper64` (paper
protocol, L=64, T=2), `joint64` (our joint protocol, L=64, T=2: the settings of the papers'
figures). Each run uses one torch thread; CPU seconds are the process time of the training
call (data generation and imports excluded, for ours and for the reference alike).

With `--reference-dir` pointing at a checkout of DecodEPFL/HamiltonianNet (not part of this
repository), the same seeds are run with the reference code in a subprocess, adapted at run
time to current PyTorch (Adam's step counter stored as a tensor; an out-of-place H2 forward),
and the ratio reference CPU / hamnets CPU is printed and stored.

Writes a JSON table (default benchmarks/results/toy2d.json) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SUITES = {
    "paper16": {"protocol": "paper", "layers": 16, "t_end": 1.2},
    "paper64": {"protocol": "paper", "layers": 64, "t_end": 2.0},
    "joint64": {"protocol": "joint", "layers": 64, "t_end": 2.0},
}
MODELS = ("H1_J1", "H1_J2", "H2", "MS1", "MS2", "MS3")
DATASETS = ("swiss_roll", "double_circles", "double_moons")
HERE = Path(__file__).resolve().parent


def run_ours(job: tuple[str, str, str, int, bool]) -> dict:
    """One hamnets run in a worker process (one thread)."""
    import torch

    from hamnets.training import ClassifyConfig, fit_classifier

    torch.set_num_threads(1)
    suite, model, dataset, seed, fused = job
    cfg = ClassifyConfig(dataset=dataset, model=model, seed=seed, fused=fused, **SUITES[suite])
    m = fit_classifier(cfg).metrics
    return {
        "suite": suite,
        "fused": fused,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "model": model,
        "dataset": dataset,
        "seed": seed,
        "test_accuracy": m["test_accuracy"],
        "train_accuracy": m["train_accuracy"],
        "cpu_seconds": m["cpu_seconds"],
    }


def run_reference(
    ref_dir: str, model: str, dataset: str, layers: int, t_end: float, seed: int
) -> dict:
    """One reference run in a fresh interpreter, timed there with process_time."""
    cmd = [
        sys.executable,
        str(HERE / "_reference_hdnn.py"),
        ref_dir,
        model,
        dataset,
        str(layers),
        str(t_end),
        str(seed),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"reference run failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(rows: list[dict]) -> dict:
    accs = [r["test_accuracy"] for r in rows]
    cpus = [r["cpu_seconds"] for r in rows]
    return {
        "seeds": [r["seed"] for r in rows],
        "test_accuracy": accs,
        "mean": statistics.fmean(accs),
        "min": min(accs),
        "max": max(accs),
        "cpu_seconds_mean": statistics.fmean(cpus),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suites", nargs="+", default=list(SUITES), choices=list(SUITES))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--jobs", type=int, default=1, help="worker processes (one thread each)")
    p.add_argument(
        "--reference-dir",
        default=None,
        help="a checkout of DecodEPFL/HamiltonianNet to run beside ours",
    )
    p.add_argument(
        "--reference-runs",
        nargs="*",
        default=["H1_J1:swiss_roll:16:1.2"],
        metavar="MODEL:DATASET:L:T",
        help="reference configurations to run",
    )
    p.add_argument(
        "--reference-seeds",
        nargs="+",
        type=int,
        default=None,
        help="seeds for the reference runs (default: --seeds)",
    )
    p.add_argument(
        "--fused",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="our runs with the fast kernels, the default of hamnets classify (--no-fused: the "
        "plain code the figures recorded before them were made with)",
    )
    p.add_argument("--out", default=str(HERE / "results" / "toy2d.json"))
    args = p.parse_args(argv)

    jobs = [
        (s, m, d, seed, args.fused)
        for s in args.suites
        for m in args.models
        for d in args.datasets
        for seed in args.seeds
    ]
    t0 = time.perf_counter()
    rows: list[dict] = []
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            for i, row in enumerate(pool.map(run_ours, jobs), 1):
                rows.append(row)
                print(f"[{i}/{len(jobs)}] {row}", flush=True)
    else:
        for i, job in enumerate(jobs, 1):
            rows.append(run_ours(job))
            print(f"[{i}/{len(jobs)}] {rows[-1]}", flush=True)

    table = []
    for s in args.suites:
        for m in args.models:
            for d in args.datasets:
                sel = [r for r in rows if (r["suite"], r["model"], r["dataset"]) == (s, m, d)]
                first = sel[0]
                table.append(
                    {
                        "suite": s,
                        "fused": args.fused,
                        **SUITES[s],
                        "model": m,
                        "dataset": d,
                        "epochs": first["epochs"],
                        "batch_size": first["batch_size"],
                        **summarise(sel),
                    }
                )

    reference = []
    if args.reference_dir:
        for spec in args.reference_runs:
            model, dataset, layers, t_end = spec.split(":")
            ref_rows = []
            for seed in args.reference_seeds or args.seeds:
                ref_rows.append(
                    run_reference(
                        args.reference_dir, model, dataset, int(layers), float(t_end), seed
                    )
                )
                print(f"[reference] {ref_rows[-1]}", flush=True)
            entry = {
                "model": model,
                "dataset": dataset,
                "layers": int(layers),
                "t_end": float(t_end),
                **summarise(ref_rows),
            }
            ours = [
                t
                for t in table
                if (t["protocol"], t["model"], t["dataset"], t["layers"], t["t_end"])
                == ("paper", model, dataset, int(layers), float(t_end))
            ]
            if ours:
                entry["hamnets_cpu_seconds_mean"] = ours[0]["cpu_seconds_mean"]
                entry["cpu_ratio_reference_over_hamnets"] = (
                    entry["cpu_seconds_mean"] / ours[0]["cpu_seconds_mean"]
                )
            reference.append(entry)

    import torch

    result = {
        "benchmark": "toy2d",
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "threads_per_run": 1,
        "jobs": args.jobs,
        "wall_seconds": time.perf_counter() - t0,
        "table": table,
        "reference": reference,
        "runs": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(
        "\n| protocol | L | T | epochs | batch | model | dataset | test acc. mean [min, max] "
        "| CPU s/run |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for t in table:
        print(
            f"| {t['protocol']} | {t['layers']} | {t['t_end']:g} | {t['epochs']} | "
            f"{t['batch_size']} | {t['model']} | "
            f"{t['dataset']} | {100 * t['mean']:.2f} [{100 * t['min']:.2f}, "
            f"{100 * t['max']:.2f}] | {t['cpu_seconds_mean']:.1f} |"
        )
    for r in reference:
        ratio = r.get("cpu_ratio_reference_over_hamnets")
        print(
            f"reference {r['model']} {r['dataset']} L={r['layers']}: test acc. mean "
            f"{100 * r['mean']:.2f} [{100 * r['min']:.2f}, {100 * r['max']:.2f}], "
            f"{r['cpu_seconds_mean']:.1f} s CPU/run"
            + (f", {ratio:.1f}x the CPU time of hamnets" if ratio else "")
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
