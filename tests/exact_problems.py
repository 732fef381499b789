"""ODE problems with exact solutions, shared by the integrator tests.

Each :class:`Problem` has a field (autonomous ``f(x)`` or ``f(t, x)``), an initial state at
``t0``, and its exact solution at any time, in float64. Nonlinear, time-dependent and
Hamiltonian ones are included; the separable Hamiltonian ones can be stepped by the splitting
methods too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from hamnets.hnn import TimeDependentSeparableField
from hamnets.systems import Pendulum, Spring, TwoBody

F64 = torch.float64


@dataclass
class Problem:
    name: str
    field: Callable
    x0: torch.Tensor  # (batch, dim)
    t0: float
    t1: float
    exact: Callable[[float], torch.Tensor]  # t -> (batch, dim)
    separable: bool = False


def jacobi_sn_cn(u: torch.Tensor, m: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Jacobi ``sn(u | m)``, ``cn(u | m)`` by the arithmetic-geometric mean (Abramowitz and
    Stegun 16.4), to round-off in float64."""
    a, b, c = [1.0], [math.sqrt(1.0 - m)], [math.sqrt(m)]
    while abs(c[-1]) > 1e-16:
        a.append(0.5 * (a[-1] + b[-1]))
        c.append(0.5 * (a[-2] - b[-1]))
        b.append(math.sqrt(a[-2] * b[-1]))
    n = len(a) - 1
    phi = (2.0**n) * a[n] * u
    for k in range(n, 0, -1):
        phi = 0.5 * (phi + torch.asin(c[k] / a[k] * torch.sin(phi)))
    return torch.sin(phi), torch.cos(phi)


def complete_k(m: float) -> float:
    """The complete elliptic integral of the first kind ``K(m) = pi / (2 AGM(1, sqrt(1-m)))``."""
    a, b = 1.0, math.sqrt(1.0 - m)
    while abs(a - b) > 1e-16:
        a, b = 0.5 * (a + b), math.sqrt(a * b)
    return math.pi / (2 * a)


class TimeEnergy(nn.Module):
    """``H(t, x) = (1 + t/2) |x|^2 / 2 + sin(t) x_0``."""

    in_features = 2

    def forward(self, t, x):
        return 0.5 * (1 + 0.5 * t) * (x**2).sum(-1) + torch.sin(t) * x[:, 0]


def spring() -> Problem:
    field = Spring().double()
    x0 = torch.tensor([[0.6, -0.3], [-1.0, 0.5]], dtype=F64)
    return Problem(
        "spring", field, x0, 0.0, 1.0,
        lambda t: field.solution(x0, torch.tensor([t], dtype=F64))[0], separable=True,
    )  # fmt: skip


def pendulum() -> Problem:
    """``H = 3 (1 - cos q) + p^2`` (q'' = -6 sin q) from rest at ``q0 = 2.0``: large, nonlinear
    swings; ``q(t) = 2 asin(k sn(w t + K, k^2))``, ``p = k w cn(w t + K, k^2)``, ``k = sin(q0/2)``,
    ``w = sqrt(6)``."""
    field, q0, w = Pendulum().double(), 2.0, math.sqrt(6.0)
    k = math.sin(q0 / 2)
    kk = complete_k(k * k)

    def exact(t: float) -> torch.Tensor:
        sn, cn = jacobi_sn_cn(torch.tensor([w * t + kk], dtype=F64), k * k)
        return torch.stack([2 * torch.asin(k * sn), k * w * cn], dim=-1)  # (1, 2)

    return Problem("pendulum", field, exact(0.0), 0.0, 1.5, exact, separable=True)


def kepler(e: float = 0.5) -> Problem:
    """Two bodies (``G = m = 1``) on an ellipse of eccentricity ``e``, semi-major axis 1, started
    at periapsis, centre of mass at rest; the exact state from Kepler's equation."""
    field, mu = TwoBody().double(), 2.0  # relative motion r'' = -2 r / |r|^3
    n = math.sqrt(mu)

    def exact(t: float) -> torch.Tensor:
        mean = n * t
        ecc = mean
        for _ in range(50):  # Newton on E - e sin E = M
            ecc -= (ecc - e * math.sin(ecc) - mean) / (1 - e * math.cos(ecc))
        cos_e, sin_e, root = math.cos(ecc), math.sin(ecc), math.sqrt(1 - e * e)
        r = (cos_e - e, root * sin_e)
        v = (-n * sin_e / (1 - e * cos_e), n * root * cos_e / (1 - e * cos_e))
        q = [r[0] / 2, r[1] / 2, -r[0] / 2, -r[1] / 2]
        p = [v[0] / 2, v[1] / 2, -v[0] / 2, -v[1] / 2]
        return torch.tensor([q + p], dtype=F64)

    return Problem("kepler", field, exact(0.0), 0.0, 2.0, exact, separable=True)


class ForcedOscillatorH(TimeDependentSeparableField):
    """``H(t, q, p) = p^2 / 2 + q^2 / 2 - F q cos(W t)``: a driven harmonic oscillator."""

    force, freq = 0.8, 1.7

    def __init__(self) -> None:
        super().__init__(2)

    def kinetic(self, t, p):
        return 0.5 * (p**2).sum(-1)

    def potential(self, t, q):
        return 0.5 * (q**2).sum(-1) - self.force * torch.cos(self.freq * t) * q.sum(-1)

    def dh_dp(self, t, p):
        return p

    def dh_dq(self, t, q):
        return q - self.force * torch.cos(self.freq * t)


def driven_hamiltonian() -> Problem:
    field = ForcedOscillatorH()
    amp = field.force / (1 - field.freq**2)
    x0 = torch.tensor([[0.5, 0.2], [-0.3, 1.0]], dtype=F64)
    c, d = x0[:, 0] - amp, x0[:, 1]

    def exact(t: float) -> torch.Tensor:
        q = c * math.cos(t) + d * math.sin(t) + amp * math.cos(field.freq * t)
        p = -c * math.sin(t) + d * math.cos(t) - amp * field.freq * math.sin(field.freq * t)
        return torch.stack([q, p], dim=-1)

    return Problem("driven_hamiltonian", field, x0, 0.0, 2.0, exact, separable=True)


def forced_damped() -> Problem:
    """``q'' + 2 z w q' + w^2 q = F cos(W t)`` as ``x = [q, v]``, ``f(t, x)``."""
    z, w, force, freq = 0.1, 2.0, 1.0, 1.3

    def field(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        q, v = x[:, :1], x[:, 1:]
        return torch.cat([v, force * torch.cos(freq * t) - 2 * z * w * v - w * w * q], dim=1)

    det = (w * w - freq * freq) ** 2 + (2 * z * w * freq) ** 2
    pa = force * (w * w - freq * freq) / det  # particular: pa cos(W t) + pb sin(W t)
    pb = force * 2 * z * w * freq / det
    wd, decay = w * math.sqrt(1 - z * z), z * w
    x0 = torch.tensor([[1.0, 0.0], [-0.5, 2.0]], dtype=F64)
    c = x0[:, 0] - pa
    d = (x0[:, 1] - pb * freq + decay * c) / wd

    def exact(t: float) -> torch.Tensor:
        e = math.exp(-decay * t)
        cs, sn = math.cos(wd * t), math.sin(wd * t)
        q = e * (c * cs + d * sn) + pa * math.cos(freq * t) + pb * math.sin(freq * t)
        v = (
            e * (-decay * (c * cs + d * sn) + wd * (-c * sn + d * cs))
            - pa * freq * math.sin(freq * t)
            + pb * freq * math.cos(freq * t)
        )
        return torch.stack([q, v], dim=-1)

    return Problem("forced_damped", field, x0, 0.0, 2.0, exact)


def sine() -> Problem:
    """torchdiffeq's test problem ``y' = 2 y / t + t^4 sin(2t) - t^2 + 4 t^3`` (non-autonomous,
    stiffening with t), exact ``y = -t^4 cos(2t)/2 + t^3 sin(2t)/2 + t^2 cos(2t)/4 - t^3 +
    2 t^4 + (pi - 1/4) t^2``."""

    def field(t, y):
        return 2 * y / t + t**4 * torch.sin(2 * t) - t**2 + 4 * t**3

    def exact(t: float) -> torch.Tensor:
        y = (
            -0.5 * t**4 * math.cos(2 * t) + 0.5 * t**3 * math.sin(2 * t)
            + 0.25 * t**2 * math.cos(2 * t) - t**3 + 2 * t**4 + (math.pi - 0.25) * t**2
        )  # fmt: skip
        return torch.tensor([[y]], dtype=F64)

    return Problem("sine", field, exact(0.5), 0.5, 1.5, exact)


def linear() -> Problem:
    """``x' = A x`` (a damped rotation in 3-D), exact ``expm(A t) x0``."""
    a = torch.tensor([[-0.1, 2.0, 0.0], [-2.0, -0.1, 0.3], [0.0, -0.3, -0.5]], dtype=F64)
    x0 = torch.tensor([[1.0, 0.0, -0.5], [0.2, 0.7, 0.1]], dtype=F64)
    return Problem(
        "linear", lambda x: x @ a.T, x0, 0.0, 2.0, lambda t: x0 @ torch.linalg.matrix_exp(a * t).T
    )


def logistic() -> Problem:
    """``y' = y (1 - y)``, ``y = 1 / (1 + 9 e^-t)`` from ``y0 = 0.1``."""
    return Problem(
        "logistic", lambda y: y * (1 - y), torch.tensor([[0.1]], dtype=F64), 0.0, 2.0,
        lambda t: torch.tensor([[1 / (1 + 9 * math.exp(-t))]], dtype=F64),
    )  # fmt: skip


PROBLEMS = (spring, pendulum, kepler, driven_hamiltonian, forced_damped, sine, linear, logistic)
