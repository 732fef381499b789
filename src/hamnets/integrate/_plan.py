"""A solve as a list of steps: what the fixed-step schedule and a recorded adaptive solve
produce, and what the memory-lean gradients replay."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .._field import TimedField
from ._base import FixedStepSolver, Solver


@dataclass(frozen=True)
class Step:
    """One step of size ``h`` (negative: backwards) from time ``t``; ``outs`` lists the output
    times inside it as ``(output index, theta)``, the output at ``t + theta h`` (``theta = 1``:
    the step's end state itself)."""

    t: float
    h: float
    outs: tuple[tuple[int, float], ...] = ()


def fixed_counts(solver: FixedStepSolver, times: list[float]) -> list[int]:
    """Steps per output interval: ``ceil(|interval| / dt)`` (one when ``dt`` is None); raises
    before any work when their sum exceeds ``solver.max_steps``."""
    counts = [
        1 if solver.dt is None else max(1, math.ceil(abs(t1 - t0) / solver.dt - 1e-9))
        for t0, t1 in zip(times[:-1], times[1:], strict=True)
    ]
    if sum(counts) > solver.max_steps:
        raise ValueError(
            f"{type(solver).__name__}: these output times need {sum(counts)} steps of "
            f"dt={solver.dt} but max_steps={solver.max_steps}; raise max_steps or dt."
        )
    return counts


def fixed_steps(solver: FixedStepSolver, times: list[float]) -> Iterator[Step]:
    """The schedule of a fixed-step solver: equal steps landing on every output time."""
    for i, n in enumerate(fixed_counts(solver, times)):
        t0, t1 = times[i], times[i + 1]
        h = (t1 - t0) / n
        for k in range(n):
            yield Step(t0 + k * h, h, ((i + 1, 1.0),) if k == n - 1 else ())


def run_steps(
    solver: Solver, f: TimedField, x: torch.Tensor, carry: Any, steps: Iterable[Step]
) -> tuple[torch.Tensor, Any, list[tuple[int, torch.Tensor]]]:
    """Take ``steps`` from ``x``; returns the last state, the carry, and the outputs met."""
    outs: list[tuple[int, torch.Tensor]] = []
    for st in steps:
        if st.outs:
            thetas = [th for _, th in st.outs]
            x, carry, ys = solver._advance_dense(f, st.t, x, st.h, carry, thetas)
            outs += [(i, y) for (i, _), y in zip(st.outs, ys, strict=True)]
        else:
            x, carry = solver._advance(f, st.t, x, st.h, carry)
    return x, carry, outs
