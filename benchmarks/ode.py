"""Work-precision of hamnets' adaptive solvers against torchode and torchdiffeq.

Usage (from the repository root, after `make install` and
`.venv/bin/pip install -c constraints.txt -e '.[bench]'`):

    .venv/bin/python benchmarks/ode.py              # about 3 min on one core
    .venv/bin/python benchmarks/ode.py --quick      # fewer tolerances

What: four problems with exact solutions (from ``tests/exact_problems.py``, the problem set
the tests use), each solved at rtol = 1e-3 ... 1e-11 (atol = rtol / 100) with the output
times inside the steps (every library's default dense output):

* ``logistic``: y' = y (1 - y) on [0, 10], 61 output times (the issue's interpolation case);
* ``pendulum``: the nonlinear pendulum from rest at q0 = 2, exact by Jacobi's sn/cn, [0, 6],
  31 output times;
* ``kepler``: a two-body orbit of eccentricity 0.5 (8 states), exact by Kepler's equation, two
  periods, 41 output times;
* ``forced_damped``: a damped oscillator driven by cos(1.3 t), f(t, x), batch 2, [0, 10], 41
  output times.

Solvers: hamnets Tsit5 and Dopri5; torchode 1.0.1 Tsit5 and Dopri5 (IntegralController, its
default); torchdiffeq dopri5 (it has no Tsit5). A library that is not installed is skipped
with a message. Measured: the largest absolute error over the output times and the batch, the
number of field evaluations (calls of the field, each on the whole batch) and the wall time of
a solve (one torch thread, median of ``--repeats`` after a warm-up).

Summary: from each pair of curves, the ratio of evaluations at equal error (log-log
interpolation) at errors 1e-4, 1e-7 and 1e-10, and the ratio of errors at equal evaluations.
Writes benchmarks/results/ode.json and, with --plot, docs/integrate_work_precision.png.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))  # the problem set the tests use, one source of truth

import exact_problems as ep  # noqa: E402

from hamnets._field import takes_time  # noqa: E402
from hamnets.integrate import Dopri5, Tsit5, odeint  # noqa: E402

F64 = torch.float64


def problems() -> dict:
    out = {}
    for make, t1, n_out in (
        (ep.logistic, 10.0, 61),
        (ep.pendulum, 6.0, 31),
        (ep.kepler, 2 * 2 * math.pi / math.sqrt(2.0), 41),
        (ep.forced_damped, 10.0, 41),
    ):
        pr = make()
        t = torch.linspace(pr.t0, t1, n_out, dtype=F64)
        exact = torch.stack([pr.exact(float(s)) for s in t])  # (T, batch, dim)
        out[pr.name] = (pr, t, exact)
    return out


class Counter:
    """``f(t, x)`` counting its calls; ``per_sample_t`` reshapes torchode's ``(batch,)`` times."""

    def __init__(self, field, per_sample_t: bool = False) -> None:
        self.field, self.calls = field, 0
        self.takes_t = takes_time(field)
        self.per_sample_t = per_sample_t

    def __call__(self, t, x):
        self.calls += 1
        if not self.takes_t:
            return self.field(x)
        return self.field(t[:, None] if self.per_sample_t else t, x)


def solve_hamnets(cls):
    def run(pr, t, rtol):
        f = Counter(pr.field)
        ys = odeint(f, pr.x0, t, cls(rtol=rtol, atol=rtol / 100, max_steps=10**6))
        return ys, f.calls

    return run


def solve_torchdiffeq(pr, t, rtol):
    import torchdiffeq

    f = Counter(pr.field)
    ys = torchdiffeq.odeint(f, pr.x0, t, rtol=rtol, atol=rtol / 100, method="dopri5")
    return ys, f.calls


def solve_torchode(method: str):
    def run(pr, t, rtol):
        import torchode as to

        f = Counter(pr.field, per_sample_t=True)
        term = to.ODETerm(f, with_stats=False)
        step = getattr(to, method)(term=term)
        control = to.IntegralController(atol=rtol / 100, rtol=rtol, term=term)
        solver = to.AutoDiffAdjoint(step, control, max_steps=10**6)
        batch = pr.x0.shape[0]
        sol = solver.solve(to.InitialValueProblem(y0=pr.x0, t_eval=t.expand(batch, -1)))
        return sol.ys.transpose(0, 1), f.calls  # (T, batch, dim)

    return run


def available_solvers() -> dict:
    solvers = {"hamnets Tsit5": solve_hamnets(Tsit5), "hamnets Dopri5": solve_hamnets(Dopri5)}
    try:
        import torchode  # noqa: F401

        solvers["torchode Tsit5"] = solve_torchode("Tsit5")
        solvers["torchode Dopri5"] = solve_torchode("Dopri5")
    except ImportError:
        print("torchode is not installed: skipped (pip install -c constraints.txt torchode)")
    try:
        import torchdiffeq  # noqa: F401

        solvers["torchdiffeq dopri5"] = solve_torchdiffeq
    except ImportError:
        print("torchdiffeq is not installed: skipped (pip install -c constraints.txt torchdiffeq)")
    return solvers


def measure(run, pr, t, exact, rtol, repeats) -> dict:
    with torch.no_grad():
        ys, nfe = run(pr, t, rtol)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run(pr, t, rtol)
            times.append(time.perf_counter() - t0)
    err = float((ys - exact).abs().max())
    return {"rtol": rtol, "error": err, "nfe": nfe, "seconds": statistics.median(times)}


def at_equal(curve_a, curve_b, x_key, y_key, x_value):
    """``y_a / y_b`` at ``x = x_value`` by log-log interpolation of both curves (None outside
    the range of either)."""
    out = []
    for curve in (curve_a, curve_b):
        pts = sorted((math.log(p[x_key]), math.log(p[y_key])) for p in curve if p[x_key] > 0)
        xs = np.array([p[0] for p in pts])
        if not len(xs) or not xs[0] <= math.log(x_value) <= xs[-1]:
            return None
        out.append(math.exp(float(np.interp(math.log(x_value), xs, [p[1] for p in pts]))))
    return out[0] / out[1]


PAIRS = (
    ("hamnets Tsit5", "torchode Tsit5"),
    ("hamnets Dopri5", "torchode Dopri5"),
    ("hamnets Dopri5", "torchdiffeq dopri5"),
    ("hamnets Tsit5", "torchdiffeq dopri5"),
)


def summarise(curves: dict) -> list[dict]:
    rows = []
    for name, per_solver in curves.items():
        for a, b in PAIRS:
            if a not in per_solver or b not in per_solver:
                continue
            row = {"problem": name, "pair": f"{a} / {b}"}
            for err in (1e-4, 1e-7, 1e-10):
                row[f"nfe_ratio_at_err_{err:g}"] = at_equal(
                    per_solver[a], per_solver[b], "error", "nfe", err
                )
            for nfe in (100, 300, 1000):
                row[f"error_ratio_at_nfe_{nfe}"] = at_equal(
                    per_solver[a], per_solver[b], "nfe", "error", nfe
                )
            rows.append(row)
    return rows


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    fig = Figure(figsize=(4 * len(curves), 7), layout="constrained")
    axes = fig.subplots(2, len(curves), squeeze=False)
    for col, (name, per_solver) in enumerate(curves.items()):
        for solver, pts in per_solver.items():
            style = "-o" if solver.startswith("hamnets") else "--s"
            for row, key in enumerate(("nfe", "seconds")):
                ax = axes[row][col]
                ax.loglog([p[key] for p in pts], [p["error"] for p in pts], style, ms=3,
                          label=solver)  # fmt: skip
        axes[0][col].set_title(name)
        axes[0][col].set_xlabel("field evaluations")
        axes[1][col].set_xlabel("seconds per solve")
        for row in (0, 1):
            axes[row][col].xaxis.set_minor_formatter(NullFormatter())
            axes[row][col].set_ylabel("max abs error at the output times")
            axes[row][col].grid(True, which="major", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="rtol 1e-3, 1e-6, 1e-9 only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ode.json")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the curves")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rtols = [1e-3, 1e-6, 1e-9] if args.quick else [10.0**-k for k in range(3, 12)]
    solvers = available_solvers()
    curves: dict = {}
    for name, (pr, t, exact) in problems().items():
        curves[name] = {}
        for solver_name, run in solvers.items():
            pts = [measure(run, pr, t, exact, rtol, args.repeats) for rtol in rtols]
            curves[name][solver_name] = pts
            print(f"{name:14s} {solver_name:19s} " + "  ".join(
                f"{p['error']:.1e}/{p['nfe']}" for p in pts))  # fmt: skip
    summary = summarise(curves)
    print("\nratios (a / b): evaluations at equal error; error at equal evaluations")
    for row in summary:
        vals = "  ".join(
            ("nfe@err" + k.rsplit("_", 1)[1] if k.startswith("nfe") else "err@nfe"
             + k.rsplit("_", 1)[1]) + f"={v:.2f}"
            for k, v in row.items() if k not in ("problem", "pair") and v is not None
        )  # fmt: skip
        print(f"{row['problem']:14s} {row['pair']:38s} {vals}")
    result = {"command": " ".join(["python", *sys.argv]), "rtols": rtols, "curves": curves,
              "summary": summary}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    if args.plot:
        plot(curves, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
