"""Force evaluations of leapfrog and Yoshida4 with first-same-as-last kicks.

Usage (from the repository root):

    .venv/bin/python benchmarks/fsal.py               # about 1 min
    .venv/bin/python benchmarks/fsal.py --periods 100

What: the Kepler orbit of ``tests/exact_problems.py`` (two bodies, eccentricity 0.5) for
``--periods`` periods (1000) at 630 steps per period, output every period. Counted: calls of
``dh_dq`` (the force) and ``dh_dp``. Against: the plain kick-drift-kick loop written out here
(two force evaluations per step, the method before issue 13), in the same run: the final
states must agree to round-off (they are the same operations; the force is reused, not
recomputed), and the wall times are compared. Writes benchmarks/results/fsal.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the problem set the tests use

import exact_problems as ep  # noqa: E402

from hamnets.integrate import Leapfrog, Yoshida4, odeint  # noqa: E402


class Counting:
    """A separable field counting its partial-gradient calls."""

    separable = True

    def __init__(self, field) -> None:
        self.field, self.dq, self.dp = field, 0, 0

    def __call__(self, x):
        return self.field(x)

    def dh_dq(self, q):
        self.dq += 1
        return self.field.dh_dq(q)

    def dh_dp(self, p):
        self.dp += 1
        return self.field.dh_dp(p)


def kick_drift_kick(field, x, times, n):
    """``n`` plain kick-drift-kick steps per output interval, as ``odeint`` cuts them."""
    q, p = x.chunk(2, dim=1)
    for t0, t1 in zip(times[:-1], times[1:], strict=True):
        h = (t1 - t0) / n
        for _ in range(n):
            p = p - 0.5 * h * field.dh_dq(q)
            q = q + h * field.dh_dp(p)
            p = p - 0.5 * h * field.dh_dq(q)
    return torch.cat([q, p], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--periods", type=int, default=1000)
    parser.add_argument("--steps-per-period", type=int, default=630)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "fsal.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    problem = ep.kepler()
    period = 2 * math.pi / math.sqrt(2.0)
    h = period / args.steps_per_period
    n = args.periods * args.steps_per_period
    t = torch.arange(args.periods + 1, dtype=torch.float64) * period
    result: dict = {"command": " ".join(["python", *sys.argv]), "steps": n}
    with torch.no_grad():
        for cls in (Leapfrog, Yoshida4):
            field = Counting(problem.field)
            t0 = time.perf_counter()
            ys = odeint(field, problem.x0, t, cls(dt=h))
            secs = time.perf_counter() - t0
            result[cls.__name__] = {"dh_dq": field.dq, "dh_dp": field.dp, "seconds": secs}
            print(f"{cls.__name__:9s} {n} steps: {field.dq} force and {field.dp} kinetic "
                  f"evaluations, {secs:.1f} s")  # fmt: skip
            if cls is Leapfrog:
                field = Counting(problem.field)
                t0 = time.perf_counter()
                ref = kick_drift_kick(field, problem.x0, t.tolist(), args.steps_per_period)
                secs_ref = time.perf_counter() - t0
                diff = float((ys[-1] - ref).abs().max())
                result["kick_drift_kick"] = {
                    "dh_dq": field.dq,
                    "dh_dp": field.dp,
                    "seconds": secs_ref,
                    "max_state_difference": diff,
                }
                print(f"plain KDK {n} steps: {field.dq} force evaluations, {secs_ref:.1f} s; "
                      f"largest state difference {diff:.1e}; time FSAL / plain "
                      f"{secs / secs_ref:.2f}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
