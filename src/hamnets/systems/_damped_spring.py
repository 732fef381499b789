"""The spring of Greydanus et al. with friction on the momentum."""

from __future__ import annotations

import math

import torch

from ._port import PortHamiltonianSystem


class DampedSpring(PortHamiltonianSystem):
    """Damped spring: ``H = q^2 + p^2``, ``R = diag(0, 0.1)``, no input (state ``(q, p)``).

    Field ``dq/dt = 2p``, ``dp/dt = -2q - 0.2p``, i.e. ``q'' + 0.2 q' + 4 q = 0``; energy
    balance ``dH/dt = -0.1 (2p)^2 = -0.4 p^2``. Underdamped, with exact solution
    (:meth:`solution`) ``q(t) = e^{-0.1 t} (q0 cos w t + (2 p0 + 0.1 q0) / w sin w t)``,
    ``p = q' / 2``, ``w = sqrt(4 - 0.01)``.
    """

    name = "damped_spring"

    def __init__(self) -> None:
        super().__init__(1, [0.1])

    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``q^2 + p^2``: ``(batch, 2)`` -> ``(batch,)``."""
        return (x**2).sum(-1)

    def grad_h(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(2q, 2p)`` ``(batch, 2)``."""
        self._check_state(x)
        return 2 * x

    def solution(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Exact states: ``x0`` ``(batch, 2)``, ``t`` ``(T,)`` -> ``(T, batch, 2)``."""
        w = math.sqrt(4 - 0.01)
        t = torch.as_tensor(t).to(x0)[:, None]  # (T, 1)
        q0, p0 = x0[:, 0], x0[:, 1]  # (batch,)
        a, b = q0, (2 * p0 + 0.1 * q0) / w
        decay, c, s = torch.exp(-0.1 * t), torch.cos(w * t), torch.sin(w * t)  # (T, 1)
        q = decay * (a * c + b * s)  # (T, batch)
        dq = decay * ((b * w - 0.1 * a) * c - (a * w + 0.1 * b) * s)
        return torch.stack([q, dq / 2], dim=-1)  # (T, batch, 2)
