"""``odeint``: the one entry point of :mod:`hamnets.integrate`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._base import Field, FixedStepSolver, Solver
from ._embedded_rk import EmbeddedRK, hermite
from ._tsit5 import Tsit5


class _CheckedField:
    """``field`` with its outputs checked: a wrong shape or a non-finite value raises."""

    def __init__(self, field: Field, dim: int, batch: int) -> None:
        self.field, self.dim, self.batch = field, dim, batch
        self.separable = getattr(field, "separable", False)

    def _check(self, out: object, like: torch.Tensor, what: str) -> torch.Tensor:
        if not isinstance(out, torch.Tensor) or out.shape != like.shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"{what} must return a tensor of shape {tuple(like.shape)} (like its input); "
                f"got {shape}."
            )
        if not bool(torch.isfinite(out.detach()).all()):
            raise ValueError(
                f"{what} returned NaN or inf; the state left the region where the model is "
                "defined (try a smaller step, tighter tolerances, or check the model)."
            )
        return out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._check(self.field(x), x, "the field")

    def dh_dq(self, q: torch.Tensor) -> torch.Tensor:
        return self._check(self.field.dh_dq(q), q, "the field's dh_dq")

    def dh_dp(self, p: torch.Tensor) -> torch.Tensor:
        return self._check(self.field.dh_dp(p), p, "the field's dh_dp")


def _as_times(t: torch.Tensor | Sequence[float], x0: torch.Tensor) -> list[float]:
    tt = torch.as_tensor(t, dtype=torch.float64)
    if tt.ndim != 1 or tt.numel() < 1:
        raise ValueError(f"t must be a 1-D sequence of output times, got shape {tuple(tt.shape)}.")
    times = tt.tolist()
    if not all(math.isfinite(v) for v in times):
        raise ValueError("t contains NaN or inf.")
    bad = [i for i in range(1, len(times)) if not times[i] > times[i - 1]]
    if bad:
        i = bad[0]
        raise ValueError(
            f"t must be strictly increasing; t[{i - 1}]={times[i - 1]!r} >= t[{i}]={times[i]!r}."
        )
    return times


def odeint(
    field: Field,
    x0: torch.Tensor,
    t: torch.Tensor | Sequence[float],
    solver: Solver | None = None,
) -> torch.Tensor:
    """Solve ``dx/dt = field(x)``, ``x(t[0]) = x0``, and return the states at the times ``t``.

    Every initial condition of the batch is integrated in the same call (fixed-step solvers
    and the shared-step adaptive control see the whole batch at once). The result is
    differentiable with respect to ``x0`` and the field's parameters by back-propagation
    through the solver steps.

    Args:
        field: ``(batch, dim) -> (batch, dim)``, autonomous (e.g. a
            :class:`hamnets.hnn.HamiltonianNN` or a :class:`hamnets.systems.HamiltonianSystem`).
        x0: initial states ``(batch, dim)`` or one state ``(dim,)``.
        t: strictly increasing output times ``(T,)``; ``t[0]`` is the initial time.
        solver: a solver object, e.g. ``Tsit5(rtol=1e-6, atol=1e-8)`` (the default),
            ``RK4(dt=0.01)`` or ``Leapfrog(dt=0.01)``.

    Returns:
        states ``(T, batch, dim)`` (or ``(T, dim)`` for an unbatched ``x0``); entry 0 is ``x0``.

    Raises:
        ValueError: bad ``t`` or ``x0``, a separable-only solver on a non-separable field, a
            field returning the wrong shape or NaN, or too many steps.
    """
    solver = Tsit5() if solver is None else solver
    if not isinstance(solver, Solver):
        raise ValueError(
            f"solver must be a hamnets.integrate solver object such as Tsit5(), got {solver!r}."
        )
    if not isinstance(x0, torch.Tensor) or x0.ndim not in (1, 2) or x0.numel() == 0:
        raise ValueError(
            "x0 must be a tensor of shape (batch, dim) or (dim,), got "
            f"{tuple(x0.shape) if isinstance(x0, torch.Tensor) else type(x0).__name__}."
        )
    if not x0.is_floating_point():
        raise ValueError(f"x0 must be a floating-point tensor, got dtype {x0.dtype}.")
    if not bool(torch.isfinite(x0.detach()).all()):
        raise ValueError("x0 contains NaN or inf.")
    unbatched = x0.ndim == 1
    x = x0[None] if unbatched else x0  # (batch, dim)
    if solver.needs_separable and not getattr(field, "separable", False):
        raise ValueError(
            f"{type(solver).__name__} needs a separable H = T(p) + V(q) (a SeparableField with "
            f"dh_dq/dh_dp), got {type(field).__name__}; use ImplicitMidpoint() for a general H."
        )
    if solver.needs_separable and x.shape[1] % 2:
        raise ValueError(f"a separable solver needs an even state dimension, got {x.shape[1]}.")
    times = _as_times(t, x0)
    f = _CheckedField(field, x.shape[1], x.shape[0])
    if isinstance(solver, EmbeddedRK):
        out = _adaptive(solver, f, x, times)
    elif isinstance(solver, FixedStepSolver):
        out = _fixed(solver, f, x, times)
    else:
        raise ValueError(f"odeint does not know how to drive {type(solver).__name__}.")
    ys = torch.stack(out)  # (T, batch, dim)
    return ys[:, 0] if unbatched else ys


def _fixed(solver: FixedStepSolver, f: Field, x: torch.Tensor, times: list[float]):
    out = [x]
    for t0, t1 in zip(times[:-1], times[1:], strict=True):
        span = t1 - t0
        n = 1 if solver.dt is None else max(1, math.ceil(span / solver.dt - 1e-9))
        h = span / n
        for _ in range(n):
            x = solver.step(f, x, h)
        out.append(x)
    return out


def _adaptive(solver: EmbeddedRK, f: Field, x: torch.Tensor, times: list[float]):
    out = [x]
    if len(times) == 1:
        return out
    t, t_end = times[0], times[-1]
    fx = f(x)
    h = solver.initial_step(f, x, fx, t_end - t)
    nxt = 1  # index of the next output time
    for _ in range(solver.max_steps):
        target = t_end if solver.dense_output else times[nxt]
        clipped = h >= target - t
        h_try = target - t if clipped else h
        x_new, f_new, err = solver.attempt(f, x, fx, h_try)
        norm = solver.error_norm(err, x, x_new)
        if not math.isfinite(norm):
            raise ValueError(f"{type(solver).__name__}: the error estimate is not finite at t={t}.")
        if norm <= 1.0:
            t_new = target if clipped else t + h_try
            while nxt < len(times) and times[nxt] <= t_new:
                if times[nxt] == t_new:
                    out.append(x_new)
                else:  # inside the step: interpolate
                    out.append(hermite(x, fx, x_new, f_new, h_try, (times[nxt] - t) / h_try))
                nxt += 1
            if nxt == len(times):
                return out
            t, x, fx = t_new, x_new, f_new
        h = solver.next_step(h_try, norm) if (norm > 1.0 or not clipped) else max(h, h_try)
    raise ValueError(
        f"{type(solver).__name__}: more than max_steps={solver.max_steps} steps before "
        f"t={t_end} (reached t={t:.6g}); loosen rtol/atol or raise max_steps."
    )
