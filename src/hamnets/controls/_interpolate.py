"""Signals from samples: piecewise-linear and natural cubic spline interpolation.

Both are batched (samples ``(batch, T, m)`` at shared knots ``(T,)``) and differentiable with
respect to the samples (and to ``t``): every coefficient is computed by tensor operations.
"""

from __future__ import annotations

import torch

from ._signal import Signal

__all__ = ["LinearInterpolation", "CubicInterpolation"]

#: how far outside the knots (relative to their span) a time is still accepted: solvers
#: evaluate the field at the last output time up to rounding.
_EDGE = 1e-7


class _Interpolation(Signal):
    def __init__(self, t: torch.Tensor, values: torch.Tensor) -> None:
        name = type(self).__name__
        if not isinstance(t, torch.Tensor) or not isinstance(values, torch.Tensor):
            raise ValueError(f"{name} needs tensors t (T,) and values (batch, T, m).")
        if t.ndim != 1 or t.shape[0] < 2:
            raise ValueError(f"{name} needs knots t of shape (T,), T >= 2, got {tuple(t.shape)}.")
        if values.ndim != 3 or values.shape[1] != t.shape[0]:
            raise ValueError(
                f"{name} needs values of shape (batch, T={t.shape[0]}, m), got "
                f"{tuple(values.shape)}; add dimensions with values[None] or values[..., None]."
            )
        if not bool((t[1:] > t[:-1]).all()):
            raise ValueError(f"{name} needs strictly increasing knots t.")
        if not bool(torch.isfinite(values).all()) or not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} got non-finite knots or values.")
        self.t = t.to(values.dtype)
        self.values = values
        self.batch, self.inputs = values.shape[0], values.shape[2]

    def _locate(self, t: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The interval index ``k`` (a 0-d long tensor) and the time as a 0-d tensor."""
        t = torch.as_tensor(t, dtype=self.t.dtype, device=self.t.device)
        if t.ndim != 0:
            raise ValueError(f"a signal takes a scalar time, got shape {tuple(t.shape)}.")
        lo, hi = self.t[0], self.t[-1]
        tol = _EDGE * (hi - lo)
        if bool(t < lo - tol) or bool(t > hi + tol):
            raise ValueError(
                f"time {float(t):.6g} lies outside the interpolated span [{float(lo):.6g}, "
                f"{float(hi):.6g}]; sample the input over the whole rollout."
            )
        k = torch.searchsorted(self.t, t.detach().reshape(1), right=True)[0] - 1
        return k.clamp(0, self.t.shape[0] - 2), t


class LinearInterpolation(_Interpolation):
    """The piecewise-linear signal through samples ``values`` ``(batch, T, m)`` at knots
    ``t`` ``(T,)`` (strictly increasing): on ``[t_k, t_{k+1}]``,
    ``u(t) = (1 - w) u_k + w u_{k+1}`` with ``w = (t - t_k) / (t_{k+1} - t_k)``.

    Continuous, with jumps in ``du/dt`` at the knots (an adaptive solver shortens its steps
    there). Calling it returns ``(batch, m)``.
    """

    def __call__(self, t: float | torch.Tensor) -> torch.Tensor:
        k, t = self._locate(t)
        t0, t1 = self.t[k], self.t[k + 1]
        w = (t - t0) / (t1 - t0)
        return (1 - w) * self.values[:, k] + w * self.values[:, k + 1]  # (batch, m)

    def __getitem__(self, index) -> LinearInterpolation:
        return LinearInterpolation(self.t, self.values[index])


class CubicInterpolation(_Interpolation):
    """The natural cubic spline through samples ``values`` ``(batch, T, m)`` at knots ``t``
    ``(T,)``: twice continuously differentiable, with zero second derivative at both ends.

    The second derivatives ``M_k`` at the knots solve the tridiagonal system
    ``h_{k-1} M_{k-1} + 2 (h_{k-1} + h_k) M_k + h_k M_{k+1}
    = 6 ((u_{k+1} - u_k) / h_k - (u_k - u_{k-1}) / h_{k-1})``, ``M_0 = M_{T-1} = 0``
    (``h_k = t_{k+1} - t_k``), solved by the Thomas algorithm (the matrix is strictly
    diagonally dominant, so no pivoting is needed) once at construction for unit samples:
    ``M = W u`` with ``W`` ``(T, T)`` from the knots alone (memory ``T^2``; differentiable in
    the samples and in ``t``, not in the knots); on ``[t_k, t_{k+1}]``
    with ``a = t_{k+1} - t``, ``b = t - t_k``:
    ``u(t) = (M_k a^3 + M_{k+1} b^3) / (6 h_k) + (u_k / h_k - M_k h_k / 6) a
    + (u_{k+1} / h_k - M_{k+1} h_k / 6) b``.
    Exact for linear data; fourth-order accurate away from the ends, second order near them
    (the natural end condition). Calling it returns ``(batch, m)``.
    """

    def __init__(self, t: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__(t, values)
        # M = W u is linear in the samples: W (T, T) depends on the knots alone, so each call
        # forms its two M_k from the samples afresh (its own graph: a signal outlives any
        # number of backward passes through it)
        with torch.no_grad():
            eye = torch.eye(len(self.t), dtype=self.t.dtype, device=self.t.device)
            self.weights = _natural_second_derivatives(self.t.detach(), eye[None])[0]  # (T, T)

    def second_derivatives(self) -> torch.Tensor:
        """``M_k`` at every knot ``(batch, T, m)``."""
        return torch.einsum("kj,bjm->bkm", self.weights, self.values)

    def __call__(self, t: float | torch.Tensor) -> torch.Tensor:
        k, t = self._locate(t)
        t0, t1 = self.t[k], self.t[k + 1]
        h = t1 - t0
        a, b = t1 - t, t - t0
        m0, m1 = torch.einsum("kj,bjm->kbm", self.weights[k : k + 2], self.values)  # (batch, m)
        y0, y1 = self.values[:, k], self.values[:, k + 1]
        return (
            (m0 * a**3 + m1 * b**3) / (6 * h)
            + (y0 / h - m0 * h / 6) * a
            + (y1 / h - m1 * h / 6) * b
        )  # (batch, m)

    def __getitem__(self, index) -> CubicInterpolation:
        return CubicInterpolation(self.t, self.values[index])


def _natural_second_derivatives(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The natural spline's second derivatives ``(batch, T, m)`` at knots ``t`` ``(T,)`` for
    samples ``y`` ``(batch, T, m)``, by the Thomas algorithm."""
    zero = torch.zeros_like(y[:, 0])  # (batch, m)
    n = t.shape[0]
    if n < 3:
        return torch.zeros_like(y)
    h = t[1:] - t[:-1]  # (T-1,)
    slope = (y[:, 1:] - y[:, :-1]) / h[None, :, None]  # (batch, T-1, m)
    rhs = 6 * (slope[:, 1:] - slope[:, :-1])  # (batch, T-2, m)
    lower, diag, upper = h[:-1], 2 * (h[:-1] + h[1:]), h[1:]  # (T-2,) each
    # forward sweep: c'_i = upper_i / (diag_i - lower_i c'_{i-1}), likewise d'_i
    c_prime: list[torch.Tensor] = []
    d_prime: list[torch.Tensor] = []
    for i in range(n - 2):
        denom = diag[i] - (lower[i] * c_prime[-1] if i else 0.0)
        c_prime.append(upper[i] / denom)
        d_prev = lower[i] * d_prime[-1] if i else 0.0
        d_prime.append((rhs[:, i] - d_prev) / denom)
    # back substitution: M_i = d'_i - c'_i M_{i+1}, with M_{T-1} = 0
    m_inner = [d_prime[-1]]
    for i in range(n - 4, -1, -1):
        m_inner.append(d_prime[i] - c_prime[i] * m_inner[-1])
    return torch.stack([zero, *reversed(m_inner), zero], dim=1)  # (batch, T, m)
