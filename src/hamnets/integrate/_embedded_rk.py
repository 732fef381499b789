"""Explicit embedded Runge-Kutta pairs with error control (the loop shared by Tsit5, Dopri5)."""

from __future__ import annotations

from typing import ClassVar

import torch

from ._base import Field, Solver, _positive


class EmbeddedRK(Solver):
    """An explicit Runge-Kutta pair with an embedded error estimate and FSAL stages.

    One step from ``x`` with stages ``k_i = f(x + h sum_j a_ij k_j)`` returns the higher-order
    solution ``x + h sum_i b_i k_i`` and the error estimate ``h sum_i e_i k_i``. The last stage
    is evaluated at the new state (first same as last), so an accepted step costs ``s - 1``
    new evaluations.

    Step-size control (shared by the whole batch, so one call integrates many initial
    conditions with the same steps): the error of sample ``b`` is the root mean square of
    ``err / (atol + rtol * max(|x|, |x_new|))`` over its components, the step is accepted when
    the largest of these is ``<= 1``, and the next step is
    ``h * clip(0.9 * norm^(-1/5), 0.2, 5)``. Output at the requested times is the cubic Hermite
    interpolant of the accepted step through ``(x, f(x))`` and ``(x_new, f(x_new))``.
    Control decisions use detached values, so back-propagation goes through the accepted steps.

    Args:
        rtol, atol: relative and absolute tolerances, ``> 0``.
        dt0: first step size; chosen from the field's scale when omitted.
        max_steps: attempted steps allowed in one :func:`odeint` call before a ``ValueError``.
        dense_output: ``True`` (default) interpolates the output times inside the steps the
            controller chose (cheap; the cubic interpolant's error is ``O(h^4)``, about ten
            times the step error at tight tolerances); ``False`` shortens steps to land on
            every output time (no interpolation error, at least one step per output interval).
    """

    adaptive = True
    symplectic = False
    # tableau, set by subclasses: nodes c (s,), matrix a (s rows), weights b (s,), error e (s,)
    c: ClassVar[tuple[float, ...]]
    a: ClassVar[tuple[tuple[float, ...], ...]]
    b: ClassVar[tuple[float, ...]]
    e: ClassVar[tuple[float, ...]]

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
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"{who}: max_steps must be an integer >= 1, got {max_steps!r}.")
        self.max_steps = max_steps
        self.dense_output = bool(dense_output)

    def attempt(
        self, field: Field, x: torch.Tensor, f0: torch.Tensor, h: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: returns the new state, ``f`` at the new state, and the error estimate."""
        ks = [f0]
        for a_row in self.a[1:]:
            dx = sum(aij * kj for aij, kj in zip(a_row, ks, strict=False) if aij != 0.0)
            ks.append(field(x + h * dx))
        # the last row of a is b (FSAL): the last stage was evaluated at the new state
        dx = sum(bi * ki for bi, ki in zip(self.b, ks, strict=True) if bi != 0.0)
        x_new = x + h * dx
        err = h * sum(ei * ki for ei, ki in zip(self.e, ks, strict=True) if ei != 0.0)
        return x_new, ks[-1], err

    def step(self, field: Field, x: torch.Tensor, h: float) -> torch.Tensor:
        """One step of fixed size ``h`` without error control (used by order tests)."""
        return self.attempt(field, x, field(x), h)[0]

    def error_norm(self, err: torch.Tensor, x: torch.Tensor, x_new: torch.Tensor) -> float:
        scale = self.atol + self.rtol * torch.maximum(x.detach().abs(), x_new.detach().abs())
        per_sample = (err.detach() / scale).pow(2).mean(dim=-1).sqrt()  # (batch,)
        return float(per_sample.max())

    def initial_step(self, field: Field, x: torch.Tensor, f0: torch.Tensor, span: float) -> float:
        """Hairer-Norsett-Wanner's starting step from the scales of ``x``, ``f`` and ``f'``."""
        if self.dt0 is not None:
            return min(self.dt0, span)
        xd, fd = x.detach(), f0.detach()
        scale = self.atol + self.rtol * xd.abs()
        d0 = float((xd / scale).pow(2).mean().sqrt())
        d1 = float((fd / scale).pow(2).mean().sqrt())
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        with torch.no_grad():
            f1 = field(xd + h0 * fd)
        d2 = float(((f1 - fd) / scale).pow(2).mean().sqrt()) / h0
        if max(d1, d2) <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1.0 / (self.order + 1))
        return min(100 * h0, h1, span)

    def next_step(self, h: float, norm: float) -> float:
        if norm == 0.0:
            return 5.0 * h
        return h * min(5.0, max(0.2, 0.9 * norm ** (-1.0 / self.order)))


def hermite(
    x0: torch.Tensor, f0: torch.Tensor, x1: torch.Tensor, f1: torch.Tensor, h: float, s: float
) -> torch.Tensor:
    """Cubic Hermite interpolant at ``t0 + s h`` (``0 <= s <= 1``) of one step."""
    s2, s3 = s * s, s * s * s
    h00 = 2 * s3 - 3 * s2 + 1
    h10 = s3 - 2 * s2 + s
    h01 = -2 * s3 + 3 * s2
    h11 = s3 - s2
    return h00 * x0 + (h10 * h) * f0 + h01 * x1 + (h11 * h) * f1
