"""Dense output of Tsit5 and Dopri5: the error at output times inside the steps.

Usage (from the repository root):

    .venv/bin/python benchmarks/dense_output.py
    # the same measurement on the code before issue 13 (cubic Hermite dense output):
    mkdir -p /tmp/hamnets_before && git archive 65ec9fe src | tar -x -C /tmp/hamnets_before
    PYTHONPATH=/tmp/hamnets_before/src .venv/bin/python benchmarks/dense_output.py \
        --out benchmarks/results/dense_output_before.json

What: the logistic equation y' = y (1 - y), y(0) = 0.1 on [0, 10] with 61 output times,
rtol 1e-5 and 1e-7 (atol 1e-8): the largest error at the output times with the output
evaluated inside the controller's steps (``dense_output=True``, the default) and with steps
shortened to land on every output time (``dense_output=False``); the same for
y' = -0.1 y on [0, 10] with 32 output times. Against: torchdiffeq's dopri5 (its
fourth-order interpolant) at the same rtol and at the number of evaluations hamnets used
(found by bisection on rtol), when it is installed. Also: ``torch.autograd.gradcheck``
through the default ``odeint`` for d/dA of a linear system x' = A x and d/dy0 of
y' = sin(y) + 1, in float64; the energy drift of a random HNN along a default Tsit5 rollout
(output times inside the steps against landing on them). Autonomous fields only, so the
script runs on the old code too.

Writes JSON (default benchmarks/results/dense_output.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from hamnets.integrate import Dopri5, Tsit5, odeint

HERE = Path(__file__).resolve().parent
F64 = torch.float64


class Counter:
    """An autonomous field ``f(x)`` counting its calls."""

    def __init__(self, fn) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, x):
        self.calls += 1
        return self.fn(x)


class TimedCounter(Counter):
    """The same as ``f(t, x)`` (torchdiffeq's calling convention)."""

    def __call__(self, t, x):
        self.calls += 1
        return self.fn(x)


CASES = {
    "logistic": (lambda y: y * (1 - y), 0.1, 61, lambda t: 1 / (1 + 9 * torch.exp(-t))),
    "decay": (lambda y: -0.1 * y, 1.0, 32, lambda t: torch.exp(-0.1 * t)),
}


def run_case(name: str, cls, rtol: float, dense: bool) -> dict:
    fn, y0, n_out, exact = CASES[name]
    t = torch.linspace(0, 10, n_out, dtype=F64)
    f = Counter(fn)
    with torch.no_grad():
        ys = odeint(f, torch.tensor([[y0]], dtype=F64), t, cls(rtol=rtol, atol=1e-8,
                    dense_output=dense))  # fmt: skip
    err = float((ys[:, 0, 0] - exact(t)).abs().max())
    return {"error": err, "nfe": f.calls}


def torchdiffeq_at_nfe(name: str, nfe: int) -> dict | None:
    try:
        import torchdiffeq
    except ImportError:
        return None
    fn, y0, n_out, exact = CASES[name]
    t = torch.linspace(0, 10, n_out, dtype=F64)

    def solve(rtol):
        f = TimedCounter(fn)
        with torch.no_grad():
            ys = torchdiffeq.odeint(f, torch.tensor([[y0]], dtype=F64), t, rtol=rtol, atol=1e-8)
        return float((ys[:, 0, 0] - exact(t)).abs().max()), f.calls

    lo, hi = -14.0, -1.0  # log10 rtol: bisect to the largest rtol using >= nfe evaluations
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if solve(10**mid)[1] >= nfe:
            lo = mid
        else:
            hi = mid
    err, calls = solve(10**lo)
    return {"error": err, "nfe": calls, "rtol": 10**lo}


def energy_drift() -> dict:
    """``max_k |H(x_k) - H(x_0)|`` of a random tanh HNN (2-64-64-1, seed 0) rolled out by the
    default Tsit5 to 201 output times on [0, 20]: the exact flow conserves ``H``, so what
    drifts is the solver's error at the output times."""
    from hamnets.hnn import EnergyMLP, HamiltonianNN

    hnn = HamiltonianNN(EnergyMLP(2, (64, 64), generator=torch.Generator().manual_seed(0)))
    hnn = hnn.double()
    x0 = torch.tensor([[1.0, 0.0]], dtype=F64)
    t = torch.linspace(0, 20, 201, dtype=F64)
    out = {}
    for dense in (True, False):
        with torch.no_grad():
            xs = odeint(hnn, x0, t, Tsit5(dense_output=dense))[:, 0]  # (T, 2)
            h = hnn.hamiltonian(xs)
        out["dense" if dense else "landing"] = float((h - h[0]).abs().max())
    return out


def gradchecks() -> dict:
    a0 = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=F64, requires_grad=True)
    x0 = torch.tensor([[1.0, 0.5]], dtype=F64)
    ts = torch.linspace(0, 2, 5, dtype=F64)
    y0 = torch.tensor([[0.3]], dtype=F64, requires_grad=True)
    out = {}
    for name, fn, arg in (
        ("linear_dA", lambda a: odeint(lambda x: x @ a.T, x0, ts), a0),
        ("sine_dy0", lambda y: odeint(lambda z: torch.sin(z) + 1, y, ts), y0),
    ):
        try:
            out[name] = bool(torch.autograd.gradcheck(fn, (arg,), raise_exception=False))
        except Exception as exc:  # noqa: BLE001 (reported, not hidden)
            out[name] = f"error: {exc}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dense_output.json")
    args = parser.parse_args()
    rows = []
    for name in CASES:
        for cls in (Tsit5, Dopri5):
            for rtol in (1e-5, 1e-7):
                dense = run_case(name, cls, rtol, True)
                land = run_case(name, cls, rtol, False)
                ref = torchdiffeq_at_nfe(name, dense["nfe"])
                row = {"problem": name, "solver": cls.__name__, "rtol": rtol, "dense": dense,
                       "landing": land, "torchdiffeq_same_nfe": ref}  # fmt: skip
                rows.append(row)
                tde = "" if ref is None else (
                    f"  torchdiffeq at {ref['nfe']} evals {ref['error']:.2e} "
                    f"(hamnets/torchdiffeq {dense['error'] / ref['error']:.2f})")  # fmt: skip
                print(f"{name:8s} {cls.__name__:6s} rtol {rtol:.0e}: dense {dense['error']:.2e} "
                      f"({dense['nfe']} evals), landing {land['error']:.2e} ({land['nfe']})"
                      + tde)  # fmt: skip
    checks = gradchecks()
    print(f"gradcheck through default odeint: {checks}")
    drift = energy_drift()
    print(f"energy drift of a random HNN along a default Tsit5 rollout: {drift}")
    result = {"command": " ".join(["python", *sys.argv]), "rows": rows, "gradcheck": checks,
              "energy_drift": drift,
              "torch": torch.__version__, "rtol_atol": "atol 1e-8"}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
