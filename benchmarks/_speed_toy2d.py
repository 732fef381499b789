"""The 2D workload of ``speed.py``: the paper protocol (H1_J1, swiss_roll, L = 16), ours with
and without the fast kernels against the reference, in CPU seconds per run."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from _machine import gemm_gflops, load

HERE = Path(__file__).resolve().parent


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
