"""The ideal spring of Greydanus et al."""

from __future__ import annotations

import torch

from ._base import HamiltonianSystem


class Spring(HamiltonianSystem):
    """Ideal mass-spring, ``H(q, p) = q^2 + p^2`` (one degree of freedom, state ``(q, p)``).

    Field ``dq/dt = 2p``, ``dp/dt = -2q``; exact solution (angular frequency 2)
    ``q(t) = q0 cos 2t + p0 sin 2t``, ``p(t) = p0 cos 2t - q0 sin 2t`` (:meth:`solution`).
    """

    name = "spring"

    def __init__(self) -> None:
        super().__init__(1)

    def kinetic(self, p: torch.Tensor) -> torch.Tensor:
        return (p**2).sum(-1)

    def potential(self, q: torch.Tensor) -> torch.Tensor:
        return (q**2).sum(-1)

    def dh_dp(self, p: torch.Tensor) -> torch.Tensor:
        return 2 * p

    def dh_dq(self, q: torch.Tensor) -> torch.Tensor:
        return 2 * q

    def solution(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Exact states: ``x0`` ``(batch, 2)``, ``t`` ``(T,)`` -> ``(T, batch, 2)``."""
        c = torch.cos(2 * t).to(x0)[:, None]  # (T, 1)
        s = torch.sin(2 * t).to(x0)[:, None]
        q0, p0 = x0[:, 0], x0[:, 1]  # (batch,)
        return torch.stack([q0 * c + p0 * s, p0 * c - q0 * s], dim=-1)  # (T, batch, 2)
