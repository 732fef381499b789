"""Explicit embedded Runge-Kutta pairs with error control (the loop shared by Tsit5, Dopri5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from ._base import Field, Solver, TimedField, _count, _positive, timed
from ._interpolation import Poly, rk_dense, rk_dense_many


class EmbeddedRK(Solver):
    """An explicit Runge-Kutta pair with an embedded error estimate and FSAL stages.

    One step from ``x`` at ``t`` with stages ``k_i = f(t + c_i h, x + h sum_j a_ij k_j)``
    returns the higher-order solution ``x + h sum_i b_i k_i`` and the error estimate
    ``h sum_i e_i k_i``. The last stage is evaluated at the new state (first same as last),
    so an accepted step costs ``s - 1`` new evaluations.

    Step-size control (shared by the whole batch, so one call integrates many initial
    conditions with the same steps): the error of sample ``b`` is the root mean square of
    ``err / (atol + rtol * max(|x|, |x_new|))`` over its components, the step is accepted when
    the largest of these is ``<= 1``, and the next step is
    ``h * clip(0.9 * norm^(-1/5), 0.2, 5)``. Output times that fall inside an accepted step are
    evaluated by the method's own continuous extension (order 4, no extra evaluation; see
    :mod:`hamnets.integrate._interpolation`). Control decisions use detached values, so
    back-propagation goes through the accepted steps. Output times may decrease: the solver
    then steps backwards.

    Args:
        rtol, atol: relative and absolute tolerances, ``> 0``.
        dt0: first step size (its magnitude); chosen from the field's scale when omitted.
        max_steps: attempted steps allowed in one :func:`odeint` call before a ``ValueError``.
        dense_output: ``True`` (default) evaluates the output times inside the steps the
            controller chose, by the continuous extension (its error is of the order of the
            tolerance); ``False`` shortens steps to land on every output time (at least one
            step per output interval).
    """

    adaptive = True
    symplectic = False
    # tableau, set by subclasses: nodes c (s,), matrix a (s rows), weights b (s,), error e (s,),
    # dense output: (s, 5) coefficients of the polynomials b_i(theta)
    c: ClassVar[tuple[float, ...]]
    a: ClassVar[tuple[tuple[float, ...], ...]]
    b: ClassVar[tuple[float, ...]]
    e: ClassVar[tuple[float, ...]]
    dense: ClassVar[Sequence[Poly]]

    def __init__(
        self,
        rtol: float = 1e-6,
        atol: float = 1e-8,
        dt0: float | None = None,
        max_steps: int = 100_000,
        dense_output: bool = True,
    ) -> None:
        who = type(self).__name__
        self.rtol = _positive(rtol, "rtol", who)
        self.atol = _positive(atol, "atol", who)
        self.dt0 = _positive(dt0, "dt0", who, allow_none=True)
        self.max_steps = _count(max_steps, "max_steps", who)
        self.dense_output = bool(dense_output)

    def stages(
        self, f: TimedField, t: float, x: torch.Tensor, f0: torch.Tensor, h: float
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """One step: the new state, the stages ``k_i`` (the last is ``f`` at the new state)
        and the error estimate."""
        ks = [f0]
        for c_i, a_row in zip(self.c[1:], self.a[1:], strict=True):
            dx = sum(aij * kj for aij, kj in zip(a_row, ks, strict=False) if aij != 0.0)
            ks.append(f(t + c_i * h, x + h * dx))
        # the last row of a is b (FSAL): the last stage was evaluated at the new state
        dx = sum(bi * ki for bi, ki in zip(self.b, ks, strict=True) if bi != 0.0)
        x_new = x + h * dx
        err = h * sum(ei * ki for ei, ki in zip(self.e, ks, strict=True) if ei != 0.0)
        return x_new, ks, err

    def attempt(
        self, field: Field, x: torch.Tensor, f0: torch.Tensor, h: float, t: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: returns the new state, ``f`` at the new state, and the error estimate."""
        x_new, ks, err = self.stages(timed(field), t, x, f0, h)
        return x_new, ks[-1], err

    def _advance(self, f, t, x, h, carry):
        x_new, ks, _ = self.stages(f, t, x, f(t, x) if carry is None else carry, h)
        return x_new, ks[-1]

    def _advance_dense(self, f, t, x, h, carry, thetas):
        x_new, ks, _ = self.stages(f, t, x, f(t, x) if carry is None else carry, h)
        return x_new, ks[-1], self.dense_at(x, x_new, ks, h, thetas)

    def interpolate(
        self, x: torch.Tensor, ks: Sequence[torch.Tensor], h: float, theta: float
    ) -> torch.Tensor:
        """The continuous extension at ``t + theta h`` of the step from ``x`` with stages
        ``ks``: ``(batch, dim)``."""
        return rk_dense(self.dense, x, ks, h, theta)

    def dense_at(
        self,
        x: torch.Tensor,
        x_new: torch.Tensor,
        ks: Sequence[torch.Tensor],
        h: float,
        thetas: Sequence[float],
    ) -> list[torch.Tensor]:
        """The states at ``t + theta h`` for all ``thetas`` of one step (``theta = 1`` is
        ``x_new`` itself), the inner ones evaluated together."""
        inner = [th for th in thetas if th != 1.0]
        ys = iter(rk_dense_many(self.dense, x, ks, h, inner) if inner else [])
        return [x_new if th == 1.0 else next(ys) for th in thetas]

    def error_norm(self, err: torch.Tensor, x: torch.Tensor, x_new: torch.Tensor) -> float:
        scale = self.atol + self.rtol * torch.maximum(x.detach().abs(), x_new.detach().abs())
        per_sample = (err.detach() / scale).pow(2).mean(dim=-1).sqrt()  # (batch,)
        return float(per_sample.max())

    def initial_step(
        self, f: TimedField, t: float, x: torch.Tensor, f0: torch.Tensor, span: float
    ) -> float:
        """Hairer-Norsett-Wanner's starting step (a magnitude) from the scales of ``x``, ``f``
        and ``f'``; ``span`` is the signed length of the integration."""
        if self.dt0 is not None:
            return min(self.dt0, abs(span))
        direction = 1.0 if span > 0 else -1.0
        xd, fd = x.detach(), f0.detach()
        scale = self.atol + self.rtol * xd.abs()
        d0 = float((xd / scale).pow(2).mean().sqrt())
        d1 = float((fd / scale).pow(2).mean().sqrt())
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        with torch.no_grad():
            f1 = f(t + direction * h0, xd + direction * h0 * fd)
        d2 = float(((f1 - fd) / scale).pow(2).mean().sqrt()) / h0
        if max(d1, d2) <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1.0 / (self.order + 1))
        return min(100 * h0, h1, abs(span))

    def next_step(self, h: float, norm: float) -> float:
        if norm == 0.0:
            return 5.0 * h
        return h * min(5.0, max(0.2, 0.9 * norm ** (-1.0 / self.order)))
