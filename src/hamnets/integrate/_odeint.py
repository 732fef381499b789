"""``odeint``: the one entry point of :mod:`hamnets.integrate`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .._field import Field, TimedField
from ._adaptive import adaptive_solve
from ._base import FixedStepSolver, Solver
from ._embedded_rk import EmbeddedRK
from ._gradient import Gradient
from ._plan import fixed_steps, run_steps
from ._tsit5 import Tsit5


class _CheckedField(TimedField):
    """``field`` seen as ``f(t, x)`` with its outputs checked: a wrong shape or a non-finite
    value raises."""

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

    def __call__(self, t, x):
        return self._check(super().__call__(t, x), x, "the field")

    def dh_dq(self, t, q):
        return self._check(super().dh_dq(t, q), q, "the field's dh_dq")

    def dh_dp(self, t, p):
        return self._check(super().dh_dp(t, p), p, "the field's dh_dp")


def _as_times(t: torch.Tensor | Sequence[float]) -> list[float]:
    tt = torch.as_tensor(t, dtype=torch.float64)
    if tt.ndim != 1 or tt.numel() < 1:
        raise ValueError(f"t must be a 1-D sequence of output times, got shape {tuple(tt.shape)}.")
    times = tt.tolist()
    if not all(math.isfinite(v) for v in times):
        raise ValueError("t contains NaN or inf.")
    if len(times) > 1:
        sign = 1.0 if times[1] > times[0] else -1.0
        bad = [i for i in range(1, len(times)) if not sign * (times[i] - times[i - 1]) > 0]
        if bad:
            i = bad[0]
            raise ValueError(
                "t must be strictly increasing or strictly decreasing (to integrate backwards); "
                f"t[{i - 1}]={times[i - 1]!r}, t[{i}]={times[i]!r}."
            )
    return times


def odeint(
    field: Field,
    x0: torch.Tensor,
    t: torch.Tensor | Sequence[float],
    solver: Solver | None = None,
    *,
    gradient: Gradient | None = None,
    params: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Solve ``dx/dt = f(t, x)``, ``x(t[0]) = x0``, and return the states at the times ``t``.

    Every initial condition of the batch is integrated in the same call (fixed-step solvers
    and the shared-step adaptive control see the whole batch at once). The result is
    differentiable with respect to ``x0`` and the field's parameters.

    Args:
        field: ``f(t, x)`` or autonomous ``f(x)``, states ``(batch, dim) -> (batch, dim)``,
            ``t`` a scalar tensor of the state's dtype. Which one is decided once per call by
            :func:`hamnets._field.takes_time`: two required positional parameters (of the
            function, or of a module's ``forward``) mean ``f(t, x)``, one means ``f(x)``.
            E.g. a :class:`hamnets.hnn.HamiltonianNN` (of ``H(x)`` or ``H(t, x)``) or a
            :class:`hamnets.systems.HamiltonianSystem`.
        x0: initial states ``(batch, dim)`` or one state ``(dim,)``.
        t: strictly monotonic output times ``(T,)``; ``t[0]`` is the initial time. Decreasing
            times integrate backwards.
        solver: a solver object, e.g. ``Tsit5(rtol=1e-6, atol=1e-8)`` (the default),
            ``RK4(dt=0.01)`` or ``Leapfrog(dt=0.01)``.
        gradient: how the result is differentiated: ``None`` (default) back-propagates through
            every step (memory grows with the steps); ``Checkpointed(every=k)`` keeps every
            k-th state and recomputes the rest; ``SymplecticAdjoint()`` keeps one state per
            step and recomputes each step in a reverse sweep. All three give the gradient of
            the discrete solve.
        params: the tensors a :class:`SymplecticAdjoint` differentiates besides ``x0``; by
            default the parameters of ``field`` when it is an ``nn.Module``.

    Returns:
        states ``(T, batch, dim)`` (or ``(T, dim)`` for an unbatched ``x0``); entry 0 is ``x0``.

    Raises:
        ValueError: bad ``t``, ``x0`` or ``field`` signature, a separable-only solver on a
            non-separable field, a field returning the wrong shape or NaN, or too many steps.
    """
    solver = Tsit5() if solver is None else solver
    if not isinstance(solver, Solver):
        raise ValueError(
            f"solver must be a hamnets.integrate solver object such as Tsit5(), got {solver!r}."
        )
    if gradient is not None and not isinstance(gradient, Gradient):
        raise ValueError(
            "gradient must be None, Checkpointed(every=k) or SymplecticAdjoint(), "
            f"got {gradient!r}."
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
    times = _as_times(t)
    if isinstance(solver, EmbeddedRK):
        floor = 4 * torch.finfo(x.dtype).eps  # a relative error no finer than the dtype holds
        if solver.rtol < floor:
            raise ValueError(
                f"{type(solver).__name__}: rtol={solver.rtol:g} is below what {x.dtype} can "
                f"resolve (4 eps = {floor:.2g}); pass rtol >= {floor:.2g}, or integrate in "
                "float64."
            )
    f = _CheckedField(field)
    if not isinstance(solver, (EmbeddedRK, FixedStepSolver)):
        raise ValueError(f"odeint does not know how to drive {type(solver).__name__}.")
    if gradient is None:
        ys = torch.stack(_solve(solver, f, x, times))  # (T, batch, dim)
    else:
        if isinstance(solver, EmbeddedRK):
            with torch.no_grad():  # record the accepted steps, then replay them
                steps = adaptive_solve(solver, f, x, times)[1]
        else:
            steps = fixed_steps(solver, times)
        if params is None:
            params = list(field.parameters()) if isinstance(field, nn.Module) else []
        params = [p for p in params if p.requires_grad]
        ys = gradient.solve(solver, f, x, len(times), steps, params)
    return ys[:, 0] if unbatched else ys


def _solve(solver: Solver, f: TimedField, x: torch.Tensor, times: list[float]):
    if isinstance(solver, EmbeddedRK):
        return adaptive_solve(solver, f, x, times)[0]
    out = [x]
    _, _, ys = run_steps(solver, f, x, None, fixed_steps(solver, times))
    return out + [y for _, y in ys]
