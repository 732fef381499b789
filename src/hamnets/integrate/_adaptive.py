"""The adaptive loop: step-size control, output times met by the continuous extension."""

from __future__ import annotations

import math

import torch

from .._field import TimedField
from ._embedded_rk import EmbeddedRK
from ._plan import Step


def adaptive_solve(
    solver: EmbeddedRK, f: TimedField, x: torch.Tensor, times: list[float]
) -> tuple[list[torch.Tensor], list[Step]]:
    """Integrate through ``times`` (increasing or decreasing) with error control.

    Returns the states at ``times`` (entry 0 is ``x``) and the accepted steps, each with the
    output times it met (so the solve can be replayed step for step).
    """
    out = [x]
    steps: list[Step] = []
    if len(times) == 1:
        return out, steps
    t, t_end = times[0], times[-1]
    direction = 1.0 if t_end > t else -1.0
    fx = f(t, x)
    h = solver.initial_step(f, t, x, fx, t_end - t)  # a magnitude
    nxt = 1  # index of the next output time
    for _ in range(solver.max_steps):
        target = t_end if solver.dense_output else times[nxt]
        clipped = h >= abs(target - t)
        h_try = abs(target - t) if clipped else h
        hs = direction * h_try  # signed step
        x_new, ks, err = solver.stages(f, t, x, fx, hs)
        norm = solver.error_norm(err, x, x_new)
        if not math.isfinite(norm):
            raise ValueError(f"{type(solver).__name__}: the error estimate is not finite at t={t}.")
        if norm <= 1.0:
            t_new = target if clipped else t + hs
            met: list[tuple[int, float]] = []
            while nxt < len(times) and direction * (times[nxt] - t_new) <= 0:
                met.append((nxt, 1.0 if times[nxt] == t_new else (times[nxt] - t) / hs))
                nxt += 1
            if met:
                out += solver.dense_at(x, x_new, ks, hs, [th for _, th in met])
            steps.append(Step(t, hs, tuple(met)))
            if nxt == len(times):
                return out, steps
            t, x, fx = t_new, x_new, ks[-1]
        h = solver.next_step(h_try, norm) if (norm > 1.0 or not clipped) else max(h, h_try)
    raise ValueError(
        f"{type(solver).__name__}: more than max_steps={solver.max_steps} steps before "
        f"t={t_end} (reached t={t:.6g}); loosen rtol/atol or raise max_steps."
    )
